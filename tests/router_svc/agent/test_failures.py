"""Model failures as the agent's error event: retryable only when the model is overloaded."""

from __future__ import annotations

import pytest

from aigw_common.errors import (
    AigwError,
    ResourceExhausted,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from router_svc.agent.failures import (
    INFERENCE_FAILED,
    OVERLOADED,
    PROMPT_TOO_LONG,
    TIMED_OUT,
    agent_error,
)


@pytest.mark.parametrize(
    ("error", "message", "retryable"),
    [
        (UpstreamUnavailable("vllm at 10.0.0.5: HTTP 500"), INFERENCE_FAILED, False),  # case 07
        (UpstreamUnavailable('HTTP 500: {"type": "overloaded_error"}'), OVERLOADED, True),  # 09
        (UpstreamUnavailable("busy", metadata={"http_status": "429"}), OVERLOADED, True),
        (ResourceExhausted("model m has 8 requests in flight"), OVERLOADED, True),
        (
            UpstreamRejected("HTTP 400: This model's maximum context length is 32768 tokens"),
            PROMPT_TOO_LONG,
            False,
        ),
        (UpstreamTimeout("stopped answering for 60 s"), TIMED_OUT, False),
    ],
)
def test_the_event_says_what_the_caller_can_act_on(
    error: AigwError, message: str, retryable: bool
) -> None:
    event = agent_error(error)

    assert (event.message, event.retryable) == (message, retryable)
    assert "10.0.0.5" not in event.message
