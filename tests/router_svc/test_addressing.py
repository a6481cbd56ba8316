"""Completions by model name, verbatim prompts, named prompts, extra scopes and ListModels,
through the real router, config_svc, model_proxy_svc and the simulator."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import struct_pb2

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common import errors
from aigw_common.grpc_errors import from_rpc_error
from aigw_common.settings import RouterSettings
from aigw_prompts import prepare_check
from aigw_simulator import simulated_text
from tests.router_svc.conftest import SIMULATED_TOKENS, Stack, generations

CHAT = router_service_pb2.Conversation(
    messages=[
        common_pb2.Message(role=common_pb2.ROLE_SYSTEM, content="Be brief."),
        common_pb2.Message(role=common_pb2.ROLE_USER, content="hi"),
    ]
)


async def _complete(
    stack: Stack, completion: router_service_pb2.Completion, *scopes: str
) -> router_service_pb2.CompleteResponse:
    return await stack.router.Complete(
        router_service_pb2.CompleteRequest(completion=completion),
        metadata=stack.metadata(*scopes),
        timeout=10,
    )


async def _refusal(
    stack: Stack, completion: router_service_pb2.Completion, *scopes: str
) -> errors.AigwError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _complete(stack, completion, *scopes)
    return from_rpc_error(caught.value)


@pytest.fixture
async def configured(stack: Stack) -> Stack:
    await stack.add_model("chat-model", stack.simulator.endpoint, family="codestral")
    await stack.add_model("code-model", stack.simulator.endpoint, family="codestral")
    await stack.add_model("spare", stack.simulator.endpoint, family="gpt")
    await stack.assign("duo_chat", "chat-model")
    await stack.assign("code_completions", "code-model")
    return stack


async def test_a_model_named_by_a_caller_with_a_scope_it_serves_gets_the_messages_as_given(
    configured: Stack,
) -> None:
    completion = router_service_pb2.Completion(model="chat-model", chat=CHAT)

    answer = await _complete(configured, completion, "duo_chat")

    assert answer.text == simulated_text(SIMULATED_TOKENS)
    assert answer.served_by.model == "chat-model"
    [record] = generations(configured.simulator)
    assert record["path"] == "/v1/chat/completions"
    # Verbatim: the system turn is kept (no family template); an answer budget is added, as
    # vLLM would otherwise let the answer run to the end of its context.
    assert record["body"]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    assert record["body"]["max_tokens"] == RouterSettings().chat_max_tokens


@pytest.mark.parametrize(
    ("model", "scopes"),
    [
        ("chat-model", ("complete_code",)),  # serves duo_chat only
        ("spare", ("duo_chat", "complete_code")),  # serves no feature
        ("no-such-model", ("duo_chat",)),
    ],
)
async def test_naming_a_model_never_grants_more_than_the_callers_features(
    configured: Stack, model: str, scopes: tuple[str, ...]
) -> None:
    error = await _refusal(
        configured, router_service_pb2.Completion(model=model, prompt="x"), *scopes
    )

    # The same answer whether the model exists or not.
    assert isinstance(error, errors.NotFound)
    assert error.field == "completion.model"
    assert generations(configured.simulator) == []


async def test_a_disabled_feature_makes_its_model_unaddressable(configured: Stack) -> None:
    await configured.assign("duo_chat", disabled=True)

    error = await _refusal(
        configured, router_service_pb2.Completion(model="chat-model", prompt="x"), "duo_chat"
    )

    assert isinstance(error, errors.NotFound)


async def test_list_models_shows_only_what_the_caller_may_address_page_by_page(
    configured: Stack,
) -> None:
    metadata = configured.metadata("duo_chat", "complete_code")
    first = await configured.router.ListModels(
        router_service_pb2.ListModelsRequest(page_size=1), metadata=metadata, timeout=5
    )
    second = await configured.router.ListModels(
        router_service_pb2.ListModelsRequest(page_size=1, page_token=first.next_page_token),
        metadata=metadata,
        timeout=5,
    )
    only_chat = await configured.router.ListModels(
        router_service_pb2.ListModelsRequest(), metadata=configured.metadata("duo_chat"), timeout=5
    )

    assert [(m.name, m.family, list(m.features)) for m in first.models] == [
        ("chat-model", "codestral", ["duo_chat"])
    ]
    assert [m.name for m in second.models] == ["code-model"]
    assert second.next_page_token == ""
    assert [m.name for m in only_chat.models] == ["chat-model"]
    with pytest.raises(grpc.aio.AioRpcError) as bad_token:
        await configured.router.ListModels(
            router_service_pb2.ListModelsRequest(page_token="bm9wZQ=="),
            metadata=metadata,
            timeout=5,
        )
    assert bad_token.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_verbatim_prompt_by_feature_goes_to_the_completions_api_as_is(
    configured: Stack,
) -> None:
    completion = router_service_pb2.Completion(
        feature="code_completions",
        verbatim=True,
        prompt="<s>[SUFFIX][PREFIX]def f(",
        parameters=common_pb2.GenerationParameters(max_tokens=5),
    )

    await _complete(configured, completion, "complete_code")

    [record] = generations(configured.simulator)
    assert record["path"] == "/v1/completions"
    assert record["body"]["prompt"] == "<s>[SUFFIX][PREFIX]def f("
    assert record["body"]["max_tokens"] == 5
    assert "stop" not in record["body"]


async def test_a_named_prompt_hands_its_inputs_to_the_features_template(
    configured: Stack,
) -> None:
    await configured.assign("duo_chat_explain_code", "chat-model")
    inputs = struct_pb2.Struct()
    inputs.update({"code": "x = 1", "file": {"name": "a.py"}})
    completion = router_service_pb2.Completion(
        invocation=router_service_pb2.PromptInvocation(prompt_id="chat/explain_code", inputs=inputs)
    )

    answer = await _complete(configured, completion, "explain_code")

    assert answer.served_by.model == "chat-model"
    [record] = generations(configured.simulator)
    last = record["body"]["messages"][-1]
    assert last["role"] == "user"
    assert last["content"].endswith('code:\nx = 1\n\nfile:\n{"name": "a.py"}')


async def test_the_connection_check_is_the_registrys_check_prompt(configured: Stack) -> None:
    completion = router_service_pb2.Completion(
        invocation=router_service_pb2.PromptInvocation(prompt_id="model_configuration/check")
    )

    answer = await _complete(configured, completion, "complete_code")

    assert answer.served_by.model == "code-model"
    expected = prepare_check("codestral").generation
    [record] = generations(configured.simulator)
    assert record["body"]["max_tokens"] == expected.parameters.max_tokens
    sent = record["body"].get("prompt") or record["body"]["messages"][-1]["content"]
    assert sent == (expected.prompt or expected.chat.messages[-1].content)


async def test_named_prompts_need_their_features_scope_and_must_exist(configured: Stack) -> None:
    check = router_service_pb2.PromptInvocation(prompt_id="model_configuration/check")
    unknown = router_service_pb2.PromptInvocation(prompt_id="no/such/prompt")

    denied = await _refusal(configured, router_service_pb2.Completion(invocation=check), "duo_chat")
    missing = await _refusal(
        configured, router_service_pb2.Completion(invocation=unknown), "complete_code"
    )

    assert isinstance(denied, errors.PermissionDenied)
    assert denied.metadata["scope"] == "complete_code"
    assert isinstance(missing, errors.NotFound)
    assert missing.message == "Prompt 'no/such/prompt' not found"


async def test_extra_scopes_are_required_too(configured: Stack) -> None:
    completion = router_service_pb2.Completion(
        feature="duo_chat", chat=CHAT, extra_scopes=["include_file_context"]
    )

    denied = await _refusal(configured, completion, "duo_chat")
    answer = await _complete(configured, completion, "duo_chat", "include_file_context")

    assert isinstance(denied, errors.PermissionDenied)
    assert denied.metadata["scope"] == "include_file_context"
    assert answer.text


@pytest.mark.parametrize(
    ("completion", "field"),
    [
        (router_service_pb2.Completion(feature="duo_chat", model="chat-model"), "completion.model"),
        (router_service_pb2.Completion(), "completion.feature"),
        (
            router_service_pb2.Completion(
                model="chat-model",
                custom_model=router_service_pb2.CustomModel(family="gpt"),
                prompt="x",
            ),
            "completion.custom_model",
        ),
        (
            router_service_pb2.Completion(
                invocation=router_service_pb2.PromptInvocation(prompt_id="chat/explain_code"),
                prompt="x",
            ),
            "completion.invocation",
        ),
    ],
)
async def test_conflicting_ways_of_addressing_are_invalid(
    configured: Stack, completion: router_service_pb2.Completion, field: str
) -> None:
    error = await _refusal(configured, completion, "duo_chat", "explain_code")

    assert isinstance(error, errors.InvalidArgument)
    assert error.field == field


async def test_request_described_models_are_refused_unless_enabled(configured: Stack) -> None:
    completion = router_service_pb2.Completion(
        feature="duo_chat",
        chat=CHAT,
        custom_model=router_service_pb2.CustomModel(
            family="gpt",
            platform=common_pb2.PLATFORM_OPENAI_COMPATIBLE,
            endpoint=configured.simulator.endpoint,
            identifier="aigw-simulator",
        ),
    )

    error = await _refusal(configured, completion, "duo_chat")

    assert isinstance(error, errors.FailedPrecondition)
    assert "AIGW_CUSTOM_MODELS__ENABLED" in error.message
    assert generations(configured.simulator) == []
