"""Type aliases for grpc's generic stub types; they exist for type checkers only, so import them
under `TYPE_CHECKING` and use them in annotations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

import grpc

Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]
Handler: TypeAlias = grpc.RpcMethodHandler[Any, Any]
Continuation: TypeAlias = Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]]
