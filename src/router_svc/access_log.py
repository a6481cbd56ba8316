"""One access-log line and one set of inference metrics per completion, and expanded logging.

The interceptor reads what it needs from the request and the responses as they pass (the
feature asked for, the model that served, the first chunk's time, the token usage): a couple of
attribute checks per chunk, and one log line and one metrics update when the call ends.
Expanded logging adds the request and the answer's text to that line, only when switched on:
by AIGW_LOGGING__ENABLE_REQUEST_LOGGING, by the runtime toggle kept in config_svc, or by the
caller's `x-gitlab-enabled-instance-verbose-ai-logs: true` when the operator allows it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
import structlog
from google.protobuf import json_format

from aigw.router.v1 import router_service_pb2
from aigw_common import metrics
from aigw_common.interceptors._wrapping import wrap_handler
from aigw_common.interceptors.server_metrics import final_code, split_method
from aigw_common.settings import LoggingSettings

if TYPE_CHECKING:
    from aigw_common.grpc_types import Context, Continuation, Handler, StreamBehavior, UnaryBehavior

VERBOSE_HEADER = "x-gitlab-enabled-instance-verbose-ai-logs"
_COMPLETIONS = frozenset({"Complete", "StreamComplete"})
_NONE = "none"

_log = structlog.get_logger("aigw.access")


@dataclass
class _Record:
    method: str
    feature: str
    verbose: bool
    started: float = field(default_factory=time.perf_counter)
    first_chunk_s: float | None = None
    model: str = _NONE
    provider: str = _NONE
    input_tokens: int | None = None
    output_tokens: int | None = None
    texts: list[str] = field(default_factory=list)

    def saw(self, response: Any) -> None:
        if self.first_chunk_s is None:
            self.first_chunk_s = time.perf_counter() - self.started
        if response.HasField("served_by"):
            self.model = response.served_by.model
            self.provider = metrics.provider_label(response.served_by.platform)
        if response.HasField("usage"):
            self.input_tokens = response.usage.input_tokens
            self.output_tokens = response.usage.output_tokens
        if self.verbose:
            self.texts.append(response.text)


class AccessLogInterceptor(grpc.aio.ServerInterceptor):
    """Logs each RouterService call once when it ends; completions also update the metrics.

    `request_logging` reads the runtime toggle (config_svc's) each call: flipping it takes
    effect on the next request, without a restart.
    """

    def __init__(self, settings: LoggingSettings, request_logging: Callable[[], bool]) -> None:
        self._settings = settings
        self._request_logging = request_logging

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        service, method = split_method(handler_call_details.method)
        handler = await continuation(handler_call_details)
        if not service.startswith("aigw.router."):
            return handler
        metadata = handler_call_details.invocation_metadata or ()
        verbose_asked = any(
            key == VERBOSE_HEADER and str(value).lower() == "true" for key, value in metadata
        )
        verbose = (
            self._settings.enable_request_logging
            or self._request_logging()
            or (verbose_asked and self._settings.allow_verbose_header)
        )
        return wrap_handler(
            handler,
            unary=lambda behavior: _unary(behavior, method, verbose),
            stream=lambda behavior: _stream(behavior, method, verbose),
        )


def _start(request: Any, method: str, verbose: bool) -> _Record:
    completion = getattr(request, "completion", None)
    feature = _NONE
    if completion is not None and method in _COMPLETIONS:
        feature = completion.feature or completion.invocation.prompt_id or completion.model or _NONE
        metrics.INFERENCES_IN_FLIGHT.labels(feature).inc()
    return _Record(method, feature, verbose)


def _unary(behavior: UnaryBehavior, method: str, verbose: bool) -> UnaryBehavior:
    async def wrapped(request: Any, context: Context) -> Any:
        record = _start(request, method, verbose)
        error: BaseException | None = None
        try:
            response = await behavior(request, context)
            if method in _COMPLETIONS:
                record.saw(response)
            return response
        except BaseException as raised:
            error = raised
            raise
        finally:
            _finish(record, request, final_code(context, error))

    return wrapped


def _stream(behavior: StreamBehavior, method: str, verbose: bool) -> StreamBehavior:
    async def wrapped(request: Any, context: Context) -> AsyncIterator[Any]:
        record = _start(request, method, verbose)
        error: BaseException | None = None
        try:
            async for response in behavior(request, context):
                record.saw(response)
                yield response
        except BaseException as raised:
            error = raised
            raise
        finally:
            _finish(record, request, final_code(context, error))

    return wrapped


def _finish(record: _Record, request: Any, code: grpc.StatusCode) -> None:
    duration_s = time.perf_counter() - record.started
    fields: dict[str, Any] = {
        "method": record.method,
        "status": code.name,
        "duration_s": round(duration_s, 6),
    }
    if record.method in _COMPLETIONS:
        fields.update(
            feature=record.feature,
            model=record.model,
            provider=record.provider,
            time_to_first_chunk_s=(
                None if record.first_chunk_s is None else round(record.first_chunk_s, 6)
            ),
            input_tokens=record.input_tokens,
            output_tokens=record.output_tokens,
        )
        _observe(record, code, duration_s)
        if record.verbose:
            fields["request"] = request_text(request.completion)
            fields["response"] = "".join(record.texts)
    _log.info("access", **fields)


def _observe(record: _Record, code: grpc.StatusCode, duration_s: float) -> None:
    metrics.INFERENCES_IN_FLIGHT.labels(record.feature).dec()
    labels = (record.feature, record.model, record.provider)
    metrics.MODEL_INFERENCES.labels(*labels, code.name).inc()
    metrics.INFERENCE_DURATION.labels(*labels, code.name).observe(duration_s)
    if record.first_chunk_s is not None:
        metrics.TIME_TO_FIRST_TOKEN.labels(*labels).observe(record.first_chunk_s)
    if record.input_tokens is not None:
        metrics.TOKEN_USAGE.labels(*labels, "input").observe(record.input_tokens)
    if record.output_tokens is not None:
        metrics.TOKEN_USAGE.labels(*labels, "output").observe(record.output_tokens)


def request_text(completion: router_service_pb2.Completion) -> str:
    """The completion as JSON, without the caller's own model credential."""
    shown = router_service_pb2.Completion()
    shown.CopyFrom(completion)
    if shown.HasField("custom_model") and shown.custom_model.api_key:
        shown.custom_model.api_key = "**********"
    return json_format.MessageToJson(shown, indent=None)
