"""A failed model call as the agent's `error` event.

The event tells the caller what it can act on; the model server's own words (endpoint, model,
body) go to the router's log. GitLab Rails retries an event marked `retryable` (up to twice)
and recognises two phrases: "prompt is too long" and, for retryability, "overloaded_error".
"""

from __future__ import annotations

import structlog

from aigw.router.v1 import router_service_pb2
from aigw_common.errors import AigwError, ResourceExhausted, UpstreamTimeout

INFERENCE_FAILED = "Inference failed"
OVERLOADED = f"{INFERENCE_FAILED}: the model server is overloaded (overloaded_error)"
PROMPT_TOO_LONG = f"{INFERENCE_FAILED}: prompt is too long for the model"
TIMED_OUT = f"{INFERENCE_FAILED}: the model did not answer in time"

# HTTP statuses by which model servers say they are overloaded (529: Anthropic's).
_OVERLOADED_STATUSES = frozenset({"429", "529"})
_TOO_LONG_PHRASES = ("maximum context length", "prompt is too long", "context window")

_log = structlog.get_logger(__name__)


def agent_error(error: AigwError) -> router_service_pb2.AgentError:
    """The event for `error`, logged with its details."""
    _log.warning("agent step failed", reason=error.reason, error=error.message)
    detail = error.message.lower()
    if (
        isinstance(error, ResourceExhausted)
        or "overloaded_error" in detail
        or error.metadata.get("http_status") in _OVERLOADED_STATUSES
    ):
        return router_service_pb2.AgentError(message=OVERLOADED, retryable=True)
    if any(phrase in detail for phrase in _TOO_LONG_PHRASES):
        return router_service_pb2.AgentError(message=PROMPT_TOO_LONG)
    if isinstance(error, UpstreamTimeout):
        return router_service_pb2.AgentError(message=TIMED_OUT)
    return router_service_pb2.AgentError(message=INFERENCE_FAILED)
