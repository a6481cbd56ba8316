"""Stop a request's work the moment its caller leaves, before any answer was sent.

A non-streamed route awaits the router's whole answer; a streamed one awaits the first text
before it starts its response. Neither reads the connection meanwhile, so without this a caller
that gave up would leave the router, and the model server behind it, generating for nobody.
Cancelling the route's task cancels the gRPC call it awaits (grpc.aio cancels an RPC whose
awaiting task is cancelled), and the router cancels the model's work in turn.

Once the response has started, the response itself watches the connection (Starlette's
streaming response listens for the disconnect), so this watch ends there.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rest_shim.access_log import note_client_gone


class CancelOnDisconnectMiddleware:
    """Runs the route in its own task and cancels it when the caller disconnects after sending
    its whole request and before the response starts. Inside AccessLogMiddleware, whose line
    then reports 499."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request_read = asyncio.Event()
        response_started = False

        async def app_receive() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                request_read.set()
            return message

        async def app_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                watch.cancel()
            await send(message)

        async def run_route() -> None:
            await self._app(scope, app_receive, app_send)

        route = asyncio.create_task(run_route())

        async def cancel_route_when_gone() -> None:
            await request_read.wait()
            # After the request's last byte, the server's next message is the disconnect.
            while (await receive())["type"] != "http.disconnect":
                pass
            if not response_started:
                note_client_gone()
                route.cancel()

        watch = asyncio.create_task(cancel_route_when_gone())
        try:
            await route
        except asyncio.CancelledError:
            this = asyncio.current_task()
            if this is not None and this.cancelling():
                raise  # the server itself is stopping this request
            # The caller left: nothing to answer, the access line says 499.
        finally:
            watch.cancel()
            with suppress(asyncio.CancelledError):
                await watch
