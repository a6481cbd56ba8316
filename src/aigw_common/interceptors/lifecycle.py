"""Server side: the one interceptor of every aigw gRPC server, and what plugs into it.

Each concern of a call — metrics, request context, tracing, access logs, authentication —
plugs in as an `Observer` (sees the call start, each response message if it asks to, and the
end with the final status code) or a `Guard` (may refuse the call before the servicer runs).
`CallLifecycle` wraps each method's behaviour once, whatever the number of plugs: a streamed
response passes through one generator per hop, the observers that watch messages are called
in a loop, and the final status code is worked out once, for all of them.

Errors are mapped here too, after the observers have seen them: a domain error (`AigwError`)
becomes its gRPC status with details; anything else is logged and becomes a bare INTERNAL.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

import grpc
import structlog

from aigw_common.errors import AigwError
from aigw_common.grpc_errors import internal_status, to_status

if TYPE_CHECKING:
    from aigw_common.grpc_types import Context, Continuation, Handler

_log = structlog.get_logger(__name__)

# Health checks and reflection: open to load balancers and tooling, and not requests.
_INFRASTRUCTURE_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")


def is_infrastructure(method: str) -> bool:
    """Whether `method` (a full gRPC path) is health checking or reflection."""
    return method.startswith(_INFRASTRUCTURE_PREFIXES)


def split_method(method: str) -> tuple[str, str]:
    """`/pkg.Service/Method` -> (`pkg.Service`, `Method`)."""
    service, _, name = method.lstrip("/").partition("/")
    return service, name


@dataclass(frozen=True, slots=True)
class Call:
    """The call being served, as the plugs see it."""

    method: str  # the full path, /pkg.Service/Method
    service: str
    name: str
    streaming: bool  # a stream of responses (else one)
    metadata: Mapping[str, str]  # the text entries of the invocation metadata


class Observation:
    """One observer's record of one call. `message` is called for each response only when
    `watches_messages` is set (most observers do not: they cost nothing per message)."""

    __slots__ = ()
    watches_messages: ClassVar[bool] = False

    def message(self, response: Any) -> None:
        """A response about to be sent (each message of a stream, or the one reply)."""

    def end(self, code: grpc.StatusCode, error: BaseException | None) -> None:
        """The call ended with `code`; `error` is what the servicer (or a guard) raised."""


class Observer(ABC):
    """A concern that watches calls; `begin` returns its record of one call, or None."""

    def applies_to(self, method: str) -> bool:
        """Whether this observer sees calls of `method` (decided once per method)."""
        return True

    @abstractmethod
    def begin(self, call: Call, request: Any, context: Context) -> Observation | None: ...


class Guard(ABC):
    """A concern that may refuse a call (by raising an AigwError) before the servicer runs.

    Health checks and reflection are never guarded."""

    def applies_to(self, method: str) -> bool:
        return not is_infrastructure(method)

    @abstractmethod
    async def admit(self, call: Call, context: Context) -> None: ...


Plug = Observer | Guard


def final_code(context: Context, error: BaseException | None) -> grpc.StatusCode:
    """The status a call ends with, given what its behaviour raised (None: it returned)."""
    if error is None:
        code = context.code()
        return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.OK
    if isinstance(error, (asyncio.CancelledError, GeneratorExit)):
        return grpc.StatusCode.CANCELLED
    if isinstance(error, AigwError):
        return error.grpc_code
    if isinstance(error, grpc.aio.AbortError):
        code = context.code()
        return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN
    # Mapped to INTERNAL below: what the caller receives is what every observer reports.
    return grpc.StatusCode.INTERNAL if isinstance(error, Exception) else grpc.StatusCode.UNKNOWN


class CallLifecycle(grpc.aio.ServerInterceptor):
    """Runs `plugs` in order around every unary-unary and unary-stream call; observers end in
    reverse order. `domain` names the service in the ErrorInfo of mapped errors.

    Client-streaming methods (only reflection has them) pass through untouched.
    """

    def __init__(self, domain: str, plugs: Sequence[Plug]) -> None:
        self._domain = domain
        self._plugs = tuple(plugs)
        # Per method: the servicer's handler and its wrapped twin (generic handlers return
        # the same handler object for each call of a method, so each is wrapped once).
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_streaming:
            return handler
        method = handler_call_details.method
        known = self._wrapped.get(method)
        if known is not None and known[0] is handler:
            return known[1]
        wrapped = self._wrap(handler, method)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap(self, handler: Handler, method: str) -> Handler:
        steps = tuple(plug for plug in self._plugs if plug.applies_to(method))
        service, name = split_method(method)
        begin, failed = self._begin, self._failed
        # grpc's handlers are namedtuples, though its stubs do not say so.
        replace: Any = handler._replace  # type: ignore[attr-defined]

        if handler.response_streaming:
            behavior: Any = handler.unary_stream

            async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
                observations: list[Observation] = []
                try:
                    call = Call(method, service, name, True, _text_metadata(context))
                    await begin(steps, observations, call, request, context)
                    watchers = [o.message for o in observations if o.watches_messages]
                    if watchers:
                        async for response in behavior(request, context):
                            for watch in watchers:
                                watch(response)
                            yield response
                    else:
                        async for response in behavior(request, context):
                            yield response
                except BaseException as error:
                    await failed(observations, context, error, method)
                _end(observations, final_code(context, None), None)

            return replace(unary_stream=stream)  # type: ignore[no-any-return]

        unary_behavior: Any = handler.unary_unary

        async def unary(request: Any, context: Context) -> Any:
            observations: list[Observation] = []
            try:
                call = Call(method, service, name, False, _text_metadata(context))
                await begin(steps, observations, call, request, context)
                response = await unary_behavior(request, context)
                for observation in observations:
                    if observation.watches_messages:
                        observation.message(response)
            except BaseException as error:
                await failed(observations, context, error, method)
            _end(observations, final_code(context, None), None)
            return response

        return replace(unary_unary=unary)  # type: ignore[no-any-return]

    @staticmethod
    async def _begin(
        steps: tuple[Plug, ...],
        observations: list[Observation],
        call: Call,
        request: Any,
        context: Context,
    ) -> None:
        for step in steps:
            if isinstance(step, Guard):
                await step.admit(call, context)
            elif (observation := step.begin(call, request, context)) is not None:
                observations.append(observation)

    async def _failed(
        self,
        observations: list[Observation],
        context: Context,
        error: BaseException,
        method: str,
    ) -> NoReturn:
        """End the observations of a call that raised `error`, then abort with its mapped
        status, or raise it again (an abort already made, a cancellation)."""
        status: grpc.Status | None = None
        if isinstance(error, AigwError):
            _log.info(
                "request failed",
                method=method,
                code=error.grpc_code.name,
                reason=error.reason,
                error=error.message,
            )
            status = to_status(error, self._domain)
        elif isinstance(error, Exception) and not isinstance(error, grpc.aio.AbortError):
            _log.error("unexpected error", method=method, exc_info=error)
            status = internal_status()
        _end(observations, final_code(context, error), error)
        if status is None:
            raise error
        await context.abort_with_status(status)
        raise AssertionError("abort_with_status returned")  # it always raises AbortError


def _end(
    observations: list[Observation], code: grpc.StatusCode, error: BaseException | None
) -> None:
    for observation in reversed(observations):
        observation.end(code, error)


def _text_metadata(context: Context) -> dict[str, str]:
    # gRPC keys are lower case; binary (-bin) values are not text and are left out.
    return {
        key: value for key, value in context.invocation_metadata() or () if isinstance(value, str)
    }
