"""Type aliases for grpc's generic stub types; they exist for type checkers only, so import them
under `TYPE_CHECKING` and use them in annotations."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc

Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]
Handler: TypeAlias = grpc.RpcMethodHandler[Any, Any]
Continuation: TypeAlias = Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]]
UnaryBehavior: TypeAlias = Callable[[Any, Context], Awaitable[Any]]
StreamBehavior: TypeAlias = Callable[[Any, Context], AsyncIterator[Any]]
