"""Scripted replies: exact texts (and faults) the simulated model answers with, in order.

Tests of reply parsers (Duo Chat's ReAct agent) need the model to say particular things, split
into particular chunks: `Final Answer:` straddling two chunks, an action, a malformed reply, a
reply that runs past its stop sequence, an error. Each generation request on the
OpenAI-compatible routes takes the next scripted reply, if any; the others answer as usual.

Over HTTP (so that a suite of real processes can be scripted too):
`POST /_simulator/replies` `{"replies": [REPLY, ...]}` appends, `GET` lists the replies not yet
taken, `DELETE` drops them. REPLY is
`{"chunks": ["Thought: ...", "Final An", "swer: Hi"]}` with, optionally,
`"honour_stop": false` (answer past a stop sequence, as a server that ignores `stop`),
`"fail_status": 500, "fail_body": {...}` (answer with that HTTP error instead),
`"error_after_chunks": N` (send vLLM's in-band error after N chunks).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from aigw_simulator.plan import Pace, Plan

if TYPE_CHECKING:
    from aigw_simulator.state import Simulator

MAX_SCRIPTED = 1000


class ScriptedReply(BaseModel):
    """One reply, as the model streams it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chunks: tuple[str, ...] = ()
    honour_stop: bool = True
    fail_status: int = Field(default=0, ge=0, le=599)
    fail_body: dict[str, Any] | None = None
    error_after_chunks: int | None = Field(default=None, ge=0)

    def failure(self) -> Response | None:
        """The HTTP error to answer with instead of the reply, if scripted."""
        if not self.fail_status:
            return None
        if self.fail_body is None:
            return Response(status_code=self.fail_status)
        return JSONResponse(self.fail_body, status_code=self.fail_status)

    def plan(
        self, *, max_tokens: int | None, stop: list[str], prompt_tokens: int, pace: Pace
    ) -> Plan:
        """The reply cut at the first stop string (removed, as vLLM does) unless the script
        ignores stops, and at `max_tokens` chunks ("length")."""
        chunks = list(self.chunks)
        finish_reason, stop_reason = "stop", None
        if max_tokens is not None and len(chunks) > max_tokens:
            chunks, finish_reason = chunks[:max_tokens], "length"
        text = "".join(chunks)
        hits = sorted((text.find(s), s) for s in stop if s and s in text)
        if self.honour_stop and hits:
            cut, stop_reason = hits[0]
            finish_reason = "stop"
            kept: list[str] = []
            consumed = 0
            for chunk in chunks:
                if consumed >= cut:
                    break
                kept.append(chunk[: cut - consumed])
                consumed += len(chunk)
            chunks = [chunk for chunk in kept if chunk]
        return Plan(
            pieces=tuple(chunks),
            completion_tokens=len(chunks),
            finish_reason=finish_reason,
            stop_reason=stop_reason,
            prompt_tokens=prompt_tokens,
            pace=pace,
            error_after_tokens=self.error_after_chunks,
        )


class _Script(BaseModel):
    model_config = ConfigDict(extra="forbid")

    replies: list[ScriptedReply]


class ReplyScript:
    """The replies not yet taken, oldest first (thread-safe: tests script from another thread)."""

    def __init__(self) -> None:
        self._replies: deque[ScriptedReply] = deque()
        self._lock = threading.Lock()

    def add(self, *replies: ScriptedReply) -> None:
        with self._lock:
            if len(self._replies) + len(replies) > MAX_SCRIPTED:
                raise ValueError(f"at most {MAX_SCRIPTED} scripted replies may wait")
            self._replies.extend(replies)

    def take(self) -> ScriptedReply | None:
        with self._lock:
            return self._replies.popleft() if self._replies else None

    def pending(self) -> list[ScriptedReply]:
        with self._lock:
            return list(self._replies)

    def clear(self) -> None:
        with self._lock:
            self._replies.clear()


def endpoint(simulator: Simulator) -> Any:
    """`/_simulator/replies`: POST appends, GET lists, DELETE drops."""

    async def replies(request: Request) -> Response:
        script = simulator.script
        if request.method == "DELETE":
            script.clear()
            return Response(status_code=204)
        if request.method == "POST":
            try:
                body = _Script.model_validate_json(await request.body())
                script.add(*body.replies)
            except (ValidationError, ValueError) as error:
                return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse({"replies": [reply.model_dump() for reply in script.pending()]})

    return replies
