"""What the model server accepts, known to the router and the proxy (issue 11): the stop limit,
the served context (from GET /v1/models), which API serves prompts; and the server's own
refusals reaching the caller as INVALID_ARGUMENT, never retried. Against the simulator, which
refuses what vLLM 0.32.0 refuses."""

from __future__ import annotations

import dataclasses

import grpc
import pytest

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2
from aigw.router.v1 import router_service_pb2
from aigw_simulator.scripted import ScriptedReply
from tests.router_svc.conftest import Stack, generations

SERVED_CONTEXT = 1024


async def _add(
    stack: Stack,
    name: str,
    family: str,
    *,
    completion_api: common_pb2.CompletionApi.ValueType = common_pb2.COMPLETION_API_UNSPECIFIED,
    max_stop_sequences: int = 0,
) -> None:
    target = common_pb2.ModelTarget(
        platform=common_pb2.PLATFORM_OPENAI_COMPATIBLE,
        endpoint=stack.simulator.endpoint,
        identifier="aigw-simulator",
        completion_api=completion_api,
        limits=common_pb2.ModelLimits(max_stop_sequences=max_stop_sequences),
    )
    await stack.config.CreateModel(
        config_service_pb2.CreateModelRequest(
            model=config_service_pb2.Model(name=name, family=family, target=target)
        ),
        timeout=5,
    )


def _serve(stack: Stack, **changes: object) -> None:
    config = stack.simulator.state.config
    stack.simulator.state.config = dataclasses.replace(config, **changes)  # type: ignore[arg-type]


def _code(prefix: str = "def add(a, b):\n    ") -> router_service_pb2.Completion:
    return router_service_pb2.Completion(
        feature="code_completions",
        code=router_service_pb2.CodeContext(
            file_name="add.py", content_above_cursor=prefix, content_below_cursor="\n"
        ),
    )


async def _complete(
    stack: Stack, completion: router_service_pb2.Completion, *scopes: str
) -> router_service_pb2.CompleteResponse:
    return await stack.router.Complete(
        router_service_pb2.CompleteRequest(completion=completion),
        metadata=stack.metadata(*scopes),
        timeout=10,
    )


@pytest.mark.parametrize("family", ["codestral", "mistral", "mixtral", "codellama"])
async def test_code_completion_sends_no_more_stops_than_vllm_takes(
    stack: Stack, family: str
) -> None:
    # These families' templates list 5 stops; vLLM refuses more than 4 with a 400.
    await _add(stack, "coder", family)
    await stack.assign("code_completions", "coder")

    await _complete(stack, _code(), "complete_code")

    [record] = generations(stack.simulator)
    assert len(record["body"]["stop"]) == 4


async def test_the_most_important_stops_are_kept(stack: Stack) -> None:
    await _add(stack, "codestral", "codestral")
    await stack.assign("code_completions", "codestral")

    await _complete(stack, _code(), "complete_code")

    [record] = generations(stack.simulator)
    assert record["body"]["stop"] == ["[SUFFIX]", "[PREFIX]", "[INST]", "[/INST]"]


async def test_a_model_option_raises_the_stop_limit(stack: Stack) -> None:
    _serve(stack, max_stop_strings=5)
    await _add(stack, "codestral", "codestral", max_stop_sequences=5)
    await stack.assign("code_completions", "codestral")

    await _complete(stack, _code(), "complete_code")

    [record] = generations(stack.simulator)
    assert len(record["body"]["stop"]) == 5


async def test_a_callers_own_stops_beyond_the_limit_are_refused_before_sending(
    stack: Stack,
) -> None:
    await _add(stack, "chat-model", "mixtral")
    await stack.assign("duo_chat", "chat-model")
    completion = router_service_pb2.Completion(
        model="chat-model",
        chat=router_service_pb2.Conversation(
            messages=[common_pb2.Message(role=common_pb2.ROLE_USER, content="hi")]
        ),
        parameters=common_pb2.GenerationParameters(stop_sequences=["a", "b", "c", "d", "e"]),
    )

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _complete(stack, completion, "duo_chat")

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "accepts at most 4" in (caught.value.details() or "")
    assert generations(stack.simulator) == []


async def test_a_templates_max_tokens_is_lowered_to_the_served_context(stack: Stack) -> None:
    # Duo Chat's template asks for 2048 answer tokens; vLLM refuses more than max_model_len.
    _serve(stack, max_model_len=SERVED_CONTEXT)
    await _add(stack, "chat-model", "mistral")
    await stack.assign("duo_chat", "chat-model")
    completion = router_service_pb2.Completion(
        feature="duo_chat",
        chat=router_service_pb2.Conversation(
            messages=[common_pb2.Message(role=common_pb2.ROLE_USER, content="hi")]
        ),
    )

    await _complete(stack, completion, "duo_chat")

    [record] = generations(stack.simulator)
    assert 0 < record["body"]["max_tokens"] < SERVED_CONTEXT


async def test_editor_text_is_trimmed_to_the_served_context(stack: Stack) -> None:
    _serve(stack, max_model_len=SERVED_CONTEXT)
    await _add(stack, "codestral", "codestral")
    await stack.assign("code_completions", "codestral")
    long_file = "".join(f"value_{n} = compute({n})\n" for n in range(3000))

    await _complete(stack, _code(long_file), "complete_code")

    [record] = generations(stack.simulator)
    assert len(record["body"]["prompt"]) <= SERVED_CONTEXT * 3


async def test_the_served_context_is_asked_for_once(stack: Stack) -> None:
    _serve(stack, max_model_len=SERVED_CONTEXT)
    await _add(stack, "codestral", "codestral")
    await stack.assign("code_completions", "codestral")

    for _ in range(3):
        await _complete(stack, _code(), "complete_code")

    asked = [r for r in stack.simulator.state.recorder.snapshot() if r["path"] == "/v1/models"]
    assert len(asked) == 1


async def test_a_callers_max_tokens_beyond_the_served_context_is_refused_before_sending(
    stack: Stack,
) -> None:
    _serve(stack, max_model_len=SERVED_CONTEXT)
    await _add(stack, "chat-model", "mixtral")
    await stack.assign("duo_chat", "chat-model")
    completion = router_service_pb2.Completion(
        model="chat-model",
        chat=router_service_pb2.Conversation(
            messages=[common_pb2.Message(role=common_pb2.ROLE_USER, content="hi")]
        ),
        parameters=common_pb2.GenerationParameters(max_tokens=5000),
    )

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _complete(stack, completion, "duo_chat")

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"serves a context of {SERVED_CONTEXT} tokens" in (caught.value.details() or "")
    assert generations(stack.simulator) == []


async def test_a_prompt_the_server_refuses_is_invalid_argument_and_not_retried(
    stack: Stack,
) -> None:
    _serve(stack, max_model_len=SERVED_CONTEXT)
    await _add(stack, "chat-model", "mixtral")
    await stack.assign("duo_chat", "chat-model")
    completion = router_service_pb2.Completion(
        model="chat-model",
        chat=router_service_pb2.Conversation(
            messages=[common_pb2.Message(role=common_pb2.ROLE_USER, content="word " * 2000)]
        ),
    )

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _complete(stack, completion, "duo_chat")

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "maximum context length is 1024 tokens" in (caught.value.details() or "")
    assert len(generations(stack.simulator)) == 1


async def test_a_chat_only_server_serves_code_completion_as_chat(stack: Stack) -> None:
    _serve(stack, chat_only=True)
    await _add(stack, "codestral", "codestral", completion_api=common_pb2.COMPLETION_API_CHAT)
    await stack.assign("code_completions", "codestral")

    answer = await _complete(stack, _code(), "complete_code")

    assert answer.text
    [record] = generations(stack.simulator)
    assert record["path"] == "/v1/chat/completions"
    [message] = record["body"]["messages"]
    assert message["role"] == "user"
    assert message["content"].startswith("[SUFFIX]")


async def test_the_agents_answer_budget_fits_the_served_context(stack: Stack) -> None:
    # The agent prompts ask for 4096 answer tokens; vLLM refuses more than max_model_len.
    _serve(stack, max_model_len=SERVED_CONTEXT)
    await _add(stack, "mistral", "mistral")
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

    assert events
    [record] = generations(stack.simulator)
    assert 0 < record["body"]["max_tokens"] < SERVED_CONTEXT
