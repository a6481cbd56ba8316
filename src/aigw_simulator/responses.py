"""Writing a generation's answer while watching for the client going away.

The answer is produced in one task while another waits for `http.disconnect`; whichever ends
first decides. Closing the connection therefore stops the simulated model at once, as it stops
vLLM (its only cancel signal), and the record says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from aigw_simulator.plan import Plan
from aigw_simulator.recording import Recorder, RequestRecord

Produce = Callable[[Send], Awaitable[None]]


class WatchedResponse(Response):
    """Runs `produce(send)` to completion, or until the client disconnects."""

    def __init__(self, produce: Produce, recorder: Recorder, record: RequestRecord) -> None:
        self._produce = produce
        self._recorder = recorder
        self._record = record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        producer = asyncio.ensure_future(self._produce(send))
        watcher = asyncio.ensure_future(_until_disconnect(receive))
        try:
            await asyncio.wait({producer, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
            if not producer.done():
                producer.cancel()
            await asyncio.gather(producer, watcher, return_exceptions=True)
        error = None if producer.cancelled() else producer.exception()
        if isinstance(error, ConnectionCut):
            self._recorder.cut(self._record)
            raise error
        if producer.cancelled() or isinstance(error, OSError):
            self._recorder.disconnect(self._record)
        elif error is not None:
            raise error
        else:
            self._recorder.finish(self._record)


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _sleep_until(when: float) -> None:
    delay = when - asyncio.get_running_loop().time()
    # Always yield once, so that a disconnect is noticed even at full speed.
    await asyncio.sleep(max(delay, 0))


class StreamFormat(Protocol):
    """One wire format's stream: what is sent before the first token, per token, at the end,
    and when the simulated model fails mid-stream."""

    headers: list[tuple[bytes, bytes]]

    def opening(self) -> list[bytes]: ...

    def token(self, text: str) -> bytes: ...

    def closing(self, last_text: str, plan: Plan) -> list[bytes]: ...

    def failure(self, message: str) -> list[bytes]: ...


class ConnectionCut(Exception):
    """Raised by a producer to make the server drop the connection mid-response."""


def stream_producer(
    *,
    plan: Plan,
    events: StreamFormat,
    started: float,
    recorder: Recorder,
    record: RequestRecord,
) -> Produce:
    """Writes a stream: the opening events at the first token's time, one event per token (the
    last one through `closing`, with the finish reason and usage), and the plan's faults."""

    async def produce(send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": events.headers})
        await _sleep_until(started + plan.pace.token_offset_s(0))
        for event in events.opening():
            await _body(send, event)
        pieces = plan.pieces or ("",)
        for index, piece in enumerate(pieces):
            await _sleep_until(started + plan.pace.token_offset_s(index))
            if _reached(plan.error_after_tokens, index):
                message = f"simulated failure after {index} tokens"
                for event in events.failure(message):
                    await _body(send, event)
                await _body(send, b"", more=False)
                return
            if _reached(plan.stall_after_tokens, index):
                await asyncio.Event().wait()  # until the client goes away
            if _reached(plan.cut_after_tokens, index):
                # Half a frame first, so that the client sees a truncated message.
                await _body(send, events.token(piece)[:7])
                raise ConnectionCut
            if index == len(pieces) - 1:
                for event in events.closing(piece, plan):
                    await _body(send, event)
            else:
                await _body(send, events.token(piece))
            recorder.add_text(record, piece)
        await _body(send, b"", more=False)

    return produce


def _reached(limit: int | None, index: int) -> bool:
    return limit is not None and index >= limit


def json_producer(
    *, plan: Plan, body: bytes, started: float, recorder: Recorder, record: RequestRecord
) -> Produce:
    """Answers with the whole completion once its last token would have been generated."""

    async def produce(send: Send) -> None:
        last = max(len(plan.pieces) - 1, 0)
        await _sleep_until(started + plan.pace.token_offset_s(last))
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await _body(send, body, more=False)
        recorder.add_text(record, plan.text)

    return produce


async def _body(send: Send, data: bytes, *, more: bool = True) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": more})
