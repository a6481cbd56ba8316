"""Fallback before the first token on every failure another model might not have: an unreachable
or failing model server, one that refuses the request (too long for its context), one that is
rate limited. A caller's own mistake is never sent to the next model."""

from __future__ import annotations

import grpc
import pytest

from aigw.router.v1 import router_service_pb2
from aigw_simulator.scripted import ScriptedReply
from tests.router_svc.conftest import Stack

_CODE = router_service_pb2.CodeContext(file_name="a.py", content_above_cursor="def f():\n    ")
_CONTEXT_TOO_LONG = {
    "object": "error",
    "message": "This model's maximum context length is 2048 tokens.",
    "type": "BadRequestError",
    "param": None,
    "code": 400,
}


def _request() -> router_service_pb2.StreamCompleteRequest:
    return router_service_pb2.StreamCompleteRequest(
        completion=router_service_pb2.Completion(feature="code_completions", code=_CODE)
    )


_RATE_LIMITED = ScriptedReply(fail_status=429, fail_body=_CONTEXT_TOO_LONG | {"code": 429})


@pytest.mark.parametrize(
    "failures",
    [
        [ScriptedReply(fail_status=400, fail_body=_CONTEXT_TOO_LONG)],
        # The proxy retries a rate limit twice (AIGW_MODEL_PROXY__MAX_RETRIES) before giving up.
        [_RATE_LIMITED] * 3,
    ],
    ids=["context too long", "rate limited"],
)
async def test_a_model_failing_before_its_first_token_falls_back(
    stack: Stack, failures: list[ScriptedReply]
) -> None:
    await stack.add_model("small", stack.simulator.endpoint)
    await stack.add_model("large", stack.simulator.endpoint)
    await stack.assign("code_completions", "small", "large")
    stack.simulator.state.script.add(*failures, ScriptedReply(chunks=("return 1",)))

    chunks = [
        chunk
        async for chunk in stack.router.StreamComplete(
            _request(), metadata=stack.metadata("complete_code"), timeout=10
        )
    ]

    assert chunks[0].served_by.model == "large"
    assert "".join(c.text for c in chunks) == "return 1"


async def test_a_callers_mistake_is_not_sent_to_the_next_model(stack: Stack) -> None:
    await stack.add_model("small", stack.simulator.endpoint)
    await stack.add_model("large", stack.simulator.endpoint)
    await stack.assign("code_completions", "small", "large")
    request = _request()
    request.completion.parameters.temperature = 99.0

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async for _ in stack.router.StreamComplete(
            request, metadata=stack.metadata("complete_code"), timeout=10
        ):
            pass

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert stack.simulator.state.recorder.snapshot() == []
