"""What arrived at the simulator and what it did with it, for tests in any process to assert on."""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from collections import deque
from typing import Any


@dataclasses.dataclass
class RequestRecord:
    """One request to a /v1 route. `sent_text` grows as tokens are written; `ended_at` is set
    when the response is complete (`completed`) or the client went away (`disconnected`)."""

    id: int
    path: str
    model: str | None
    stream: bool
    request_id: str | None
    authorization_present: bool
    body: Any
    # The client's "host:port": requests over one kept-alive connection share it.
    client: str | None = None
    status: int = 200
    sent_text: str = ""
    completed: bool = False
    disconnected: bool = False
    # The simulator dropped the connection on purpose (the cut_after_tokens fault).
    cut: bool = False
    # How the request authenticated: "bearer", "api-key", "x-api-key", "sigv4" or None.
    auth_scheme: str | None = None
    # The query string, e.g. "api-version=2024-10-21".
    query: str = ""
    # The W3C trace context the caller sent, if any.
    traceparent: str | None = None
    started_at: float = dataclasses.field(default_factory=time.time)
    ended_at: float | None = None


class Recorder:
    """A bounded, thread-safe list of request records (the server and a test may be on
    different threads)."""

    def __init__(self, max_records: int) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=max_records)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def start(
        self,
        *,
        path: str,
        body: Any,
        request_id: str | None,
        authorization_present: bool,
        client: str | None = None,
        model: str | None = None,
        stream: bool | None = None,
        auth_scheme: str | None = None,
        query: str = "",
        traceparent: str | None = None,
    ) -> RequestRecord:
        if model is None:
            model = body.get("model") if isinstance(body, dict) else None
        if stream is None:
            stream = bool(body.get("stream")) if isinstance(body, dict) else False
        with self._lock:
            record = RequestRecord(
                id=next(self._ids),
                path=path,
                model=model if isinstance(model, str) else None,
                stream=stream,
                request_id=request_id,
                authorization_present=authorization_present,
                body=body,
                client=client,
                auth_scheme=auth_scheme,
                query=query,
                traceparent=traceparent,
            )
            self._records.append(record)
        return record

    def finish(self, record: RequestRecord, *, status: int | None = None) -> None:
        with self._lock:
            if status is not None:
                record.status = status
            record.completed = True
            record.ended_at = time.time()

    def disconnect(self, record: RequestRecord) -> None:
        with self._lock:
            record.disconnected = True
            record.ended_at = time.time()

    def cut(self, record: RequestRecord) -> None:
        with self._lock:
            record.cut = True
            record.ended_at = time.time()

    def add_text(self, record: RequestRecord, text: str) -> None:
        with self._lock:
            record.sent_text += text

    def snapshot(self) -> list[dict[str, Any]]:
        """Every kept record as plain JSON-ready dicts, oldest first."""
        with self._lock:
            return [dataclasses.asdict(record) for record in self._records]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
