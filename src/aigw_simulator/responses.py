"""Writing a generation's answer while watching for the client going away.

The answer is produced in one task while another waits for `http.disconnect`; whichever ends
first decides. Closing the connection therefore stops the simulated model at once, as it stops
vLLM (its only cancel signal), and the record says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from aigw_simulator import wire
from aigw_simulator.plan import Plan
from aigw_simulator.recording import Recorder, RequestRecord

Produce = Callable[[Send], Awaitable[None]]

_SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8")]


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


def stream_producer(
    *,
    plan: Plan,
    events: wire.ChatStream | wire.CompletionStream,
    include_usage: bool,
    started: float,
    recorder: Recorder,
    record: RequestRecord,
) -> Produce:
    """Writes the SSE stream of section 1.5: (chat: a role chunk), one chunk per token, the
    last carrying finish_reason, then the usage chunk if asked, then `[DONE]`."""

    async def produce(send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
        await _sleep_until(started + plan.pace.token_offset_s(0))
        if isinstance(events, wire.ChatStream):
            await _body(send, events.role())
        pieces = plan.pieces or ("",)
        for index, piece in enumerate(pieces):
            await _sleep_until(started + plan.pace.token_offset_s(index))
            if plan.error_after_tokens is not None and index >= plan.error_after_tokens:
                message = f"simulated failure after {index} tokens"
                await _body(send, wire.stream_error_event(message))
                await _body(send, wire.DONE_EVENT, more=False)
                return
            if index == len(pieces) - 1:
                event = events.finish(piece, plan.finish_reason, plan.stop_reason)
            else:
                event = events.token(piece)
            await _body(send, event)
            recorder.add_text(record, piece)
        if include_usage:
            await _body(send, events.usage(plan.prompt_tokens, plan.completion_tokens))
        await _body(send, wire.DONE_EVENT, more=False)

    return produce


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
