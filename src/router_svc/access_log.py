"""One access-log line and one set of inference metrics per completion, and expanded logging.

The observer reads what it needs from the request and the responses as they pass (the
feature asked for, the model that served, the first chunk's time, the token usage): a couple of
attribute checks per chunk, and one log line and one metrics update when the call ends.
Expanded logging adds the request and the answer's text to that line, only when switched on:
by AIGW_LOGGING__ENABLE_REQUEST_LOGGING, by the runtime toggle kept in config_svc, or by the
caller's `x-gitlab-enabled-instance-verbose-ai-logs: true` when the operator allows it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog
from google.protobuf import json_format

from aigw.router.v1 import router_service_pb2
from aigw_common import metrics
from aigw_common.interceptors.lifecycle import Call, Observation, Observer, split_method
from aigw_common.settings import LoggingSettings

if TYPE_CHECKING:
    import grpc

    from aigw_common.grpc_types import Context

VERBOSE_HEADER = "x-gitlab-enabled-instance-verbose-ai-logs"
_COMPLETIONS = frozenset({"Complete", "StreamComplete"})
_NONE = "none"

_log = structlog.get_logger("aigw.access")


class AccessLog(Observer):
    """Logs each RouterService call once when it ends; completions also update the metrics.

    `request_logging` reads the runtime toggle (config_svc's) each call: flipping it takes
    effect on the next request, without a restart.
    """

    def __init__(self, settings: LoggingSettings, request_logging: Callable[[], bool]) -> None:
        self._settings = settings
        self._request_logging = request_logging

    def applies_to(self, method: str) -> bool:
        return split_method(method)[0].startswith("aigw.router.")

    def begin(self, call: Call, request: Any, context: Context) -> Observation:
        verbose_asked = call.metadata.get(VERBOSE_HEADER, "").lower() == "true"
        verbose = (
            self._settings.enable_request_logging
            or self._request_logging()
            or (verbose_asked and self._settings.allow_verbose_header)
        )
        completion = getattr(request, "completion", None)
        if completion is not None and call.name in _COMPLETIONS:
            return _CompletionRecord(call.name, request, verbose)
        return _Record(call.name, request)


class _Record(Observation):
    __slots__ = ("method", "request", "started")

    def __init__(self, method: str, request: Any) -> None:
        self.method = method
        self.request = request
        self.started = time.perf_counter()

    def end(self, code: grpc.StatusCode, error: BaseException | None) -> None:
        _log.info("access", **self.fields(code, time.perf_counter() - self.started))

    def fields(self, code: grpc.StatusCode, duration_s: float) -> dict[str, Any]:
        return {"method": self.method, "status": code.name, "duration_s": round(duration_s, 6)}


class _CompletionRecord(_Record):
    """What a completion's access line and metrics need, read from its responses as they pass."""

    __slots__ = (
        "feature",
        "first_chunk_s",
        "input_tokens",
        "model",
        "output_tokens",
        "provider",
        "texts",
        "verbose",
    )
    watches_messages = True

    def __init__(self, method: str, request: Any, verbose: bool) -> None:
        super().__init__(method, request)
        completion = request.completion
        self.feature: str = (
            completion.feature or completion.invocation.prompt_id or completion.model or _NONE
        )
        self.verbose = verbose
        self.first_chunk_s: float | None = None
        self.model = _NONE
        self.provider = _NONE
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.texts: list[str] = []
        metrics.INFERENCES_IN_FLIGHT.labels(self.feature).inc()

    def message(self, response: Any) -> None:
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

    def end(self, code: grpc.StatusCode, error: BaseException | None) -> None:
        duration_s = time.perf_counter() - self.started
        _observe(self, code, duration_s)
        _log.info("access", **self.fields(code, duration_s))

    def fields(self, code: grpc.StatusCode, duration_s: float) -> dict[str, Any]:
        fields = super().fields(code, duration_s)
        fields.update(
            feature=self.feature,
            model=self.model,
            provider=self.provider,
            time_to_first_chunk_s=(
                None if self.first_chunk_s is None else round(self.first_chunk_s, 6)
            ),
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
        )
        if self.verbose:
            fields["request"] = request_text(self.request.completion)
            fields["response"] = "".join(self.texts)
        return fields


def _observe(record: _CompletionRecord, code: grpc.StatusCode, duration_s: float) -> None:
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
