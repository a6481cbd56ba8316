"""Wrap the behaviour of a gRPC method handler: the only way an aio server interceptor sees the
request, the servicer's outcome and its context."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from aigw_common.grpc_types import Handler, StreamBehavior, UnaryBehavior


def wrap_handler(
    handler: Handler | None,
    *,
    unary: Callable[[UnaryBehavior], UnaryBehavior],
    stream: Callable[[StreamBehavior], StreamBehavior],
) -> Handler | None:
    """The same handler with its unary-unary or unary-stream behaviour wrapped.

    Client-streaming methods (only the reflection service has them) are returned unchanged.
    """
    if handler is None or handler.request_streaming:
        return handler
    # grpc's handlers are namedtuples, though its stubs do not say so.
    replace: Any = handler._replace  # type: ignore[attr-defined]
    if handler.response_streaming:
        return replace(unary_stream=stream(cast("StreamBehavior", handler.unary_stream)))  # type: ignore[no-any-return]
    return replace(unary_unary=unary(cast("UnaryBehavior", handler.unary_unary)))  # type: ignore[no-any-return]
