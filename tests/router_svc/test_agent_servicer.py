"""RouterService.StreamAgent through the router's interceptors, against real config_svc,
model_proxy_svc and the scripted simulator: fallbacks, the trial caller's tools, cancellation."""

from __future__ import annotations

import grpc
import pytest

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from aigw_cli.local_suite import free_ports
from aigw_common.settings import AuthSettings, Settings
from aigw_simulator import BackgroundSimulator
from aigw_simulator.scripted import ScriptedReply
from tests.polling import eventually
from tests.router_svc.conftest import Stack, running_stack

QUESTION = router_service_pb2.StreamAgentRequest(
    messages=[router_service_pb2.AgentMessage(role=common_pb2.ROLE_USER, content="Issue #1?")]
)


async def _events(
    stack: Stack, request: router_service_pb2.StreamAgentRequest, *scopes: str
) -> list[router_service_pb2.StreamAgentResponse]:
    return [
        event
        async for event in stack.router.StreamAgent(
            request, metadata=stack.metadata(*scopes), timeout=10
        )
    ]


async def test_an_unreachable_model_falls_back_to_the_next(stack: Stack) -> None:
    dead = f"http://127.0.0.1:{free_ports(1)[0]}/v1"
    await stack.add_model("dead", dead, family="mistral")
    await stack.add_model("claude", stack.simulator.endpoint, family="claude_3")
    await stack.assign("duo_chat", "dead", "claude")
    stack.simulator.state.script.add(ScriptedReply(chunks=("Final Answer: from claude",)))

    events = await _events(stack, QUESTION, "duo_chat")

    assert events[0].final_answer_delta.text == "from claude"
    assert events[0].served_by.model == "claude"
    assert events[-1].HasField("usage")


async def test_a_disabled_feature_is_refused_before_any_event(stack: Stack) -> None:
    await stack.assign("duo_chat", disabled=True)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _events(stack, QUESTION, "duo_chat")

    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_cancelling_the_call_stops_the_model(stack: Stack) -> None:
    await stack.add_model("m", stack.simulator.endpoint, family="mistral")
    await stack.assign("duo_chat", "m")
    words = tuple(f" w{n}" for n in range(400))
    stack.simulator.state.script.add(ScriptedReply(chunks=("Final Answer:", *words)))
    stack.simulator.state.config = type(stack.simulator.state.config)(tokens_per_second=50)

    call = stack.router.StreamAgent(QUESTION, metadata=stack.metadata("duo_chat"), timeout=10)
    first = await call.read()
    assert isinstance(first, router_service_pb2.StreamAgentResponse)
    call.cancel()

    def disconnected() -> bool:
        return bool(stack.simulator.state.recorder.snapshot()[-1]["disconnected"])

    await eventually(disconnected, timeout_s=3)


@pytest.fixture
def trial_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"auth": AuthSettings(bypass_external=True)})


async def test_the_trial_caller_is_offered_every_tool_without_version_checks(
    trial_settings: Settings, simulator: BackgroundSimulator
) -> None:
    async with running_stack(trial_settings, simulator) as stack:
        await stack.add_model("m", stack.simulator.endpoint, family="mistral")
        await stack.assign("duo_chat", "m")
        stack.simulator.state.script.add(
            ScriptedReply(chunks=("x\nAction: build_reader\nAction Input: 42",))
        )

        events = [event async for event in stack.router.StreamAgent(QUESTION, timeout=10)]

        assert events[0].action.tool == "build_reader"
        prompt = stack.simulator.state.recorder.snapshot()[-1]["body"]["messages"][0]["content"]
        assert "[build_reader,epic_reader,issue_reader,merge_request_reader," in prompt
        assert "commit_reader" not in prompt


async def test_a_reply_past_its_stop_sequence_stops_the_model(stack: Stack) -> None:
    await stack.add_model("m", stack.simulator.endpoint, family="mistral")
    await stack.assign("duo_chat", "m")
    invented = tuple(f" invented{n}" for n in range(400))
    stack.simulator.state.script.add(
        ScriptedReply(
            chunks=("x\nAction: issue_reader\nAction Input: #1\n", "Observation:", *invented),
            honour_stop=False,
        )
    )
    stack.simulator.state.config = type(stack.simulator.state.config)(tokens_per_second=50)

    events = await _events(stack, QUESTION, "duo_chat", "ask_issue")

    assert [e.WhichOneof("event") for e in events] == ["action"]
    assert events[0].action.tool_input == "#1"

    def disconnected() -> bool:
        return bool(stack.simulator.state.recorder.snapshot()[-1]["disconnected"])

    await eventually(disconnected, timeout_s=3)
