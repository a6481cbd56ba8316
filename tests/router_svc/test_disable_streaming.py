"""AIGW_CUSTOM_MODELS__DISABLE_STREAMING: the router asks the model for the whole answer at once
and still answers StreamComplete with a stream."""

from __future__ import annotations

import pytest

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common.settings import CustomModelsSettings, Settings
from aigw_simulator import simulated_text
from aigw_simulator.scripted import ScriptedReply
from tests.router_svc.conftest import SIMULATED_TOKENS, Stack, generations


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"custom_models": CustomModelsSettings(disable_streaming=True)}
    )


async def test_stream_complete_makes_one_unary_model_call(stack: Stack) -> None:
    await stack.add_model("codestral", stack.simulator.endpoint)
    await stack.assign("code_completions", "codestral")
    completion = router_service_pb2.Completion(
        feature="code_completions",
        code=router_service_pb2.CodeContext(file_name="a.py", content_above_cursor="x = "),
    )

    chunks = [
        chunk
        async for chunk in stack.router.StreamComplete(
            router_service_pb2.StreamCompleteRequest(completion=completion),
            metadata=stack.metadata("complete_code"),
            timeout=10,
        )
    ]

    [chunk] = chunks
    assert chunk.text == simulated_text(SIMULATED_TOKENS)
    assert chunk.served_by.model == "codestral"
    assert chunk.finish_reason == common_pb2.FINISH_REASON_STOP
    assert chunk.usage.output_tokens == SIMULATED_TOKENS
    [record] = generations(stack.simulator)
    assert record["stream"] is False


async def test_the_agent_parses_the_whole_answer_of_one_unary_call(stack: Stack) -> None:
    await stack.add_model("mistral", stack.simulator.endpoint, family="mistral")
    await stack.assign("duo_chat", "mistral")
    stack.simulator.state.script.add(ScriptedReply(chunks=("x\nFinal Answer: ", "Hi there.")))
    request = router_service_pb2.StreamAgentRequest(
        messages=[router_service_pb2.AgentMessage(role=common_pb2.ROLE_USER, content="hi")]
    )

    events = [
        event
        async for event in stack.router.StreamAgent(
            request, metadata=stack.metadata("duo_chat"), timeout=10
        )
    ]

    assert [e.WhichOneof("event") for e in events] == ["final_answer_delta", "usage"]
    assert events[0].final_answer_delta.text == "Hi there."
    assert events[0].served_by.model == "mistral"
    [record] = generations(stack.simulator)
    assert record["stream"] is False
