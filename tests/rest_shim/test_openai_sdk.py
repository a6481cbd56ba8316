"""The official `openai` SDK against aigw (shim, real router, config_svc, model_proxy_svc and the
simulator): streamed and whole chat completions, text completions, the model list, and errors
raised as the SDK's own exception types."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest

from aigw_simulator import SimulatorConfig, simulated_text
from tests.polling import eventually
from tests.rest_shim.conftest import Gateway

ANSWER = simulated_text(6)


@pytest.fixture
async def configured(gateway: Gateway) -> Gateway:
    stack = gateway.stack
    await stack.add_model("mixtral-8x7b", stack.simulator.endpoint, family="mixtral")
    await stack.add_model("codestral-22b", stack.simulator.endpoint, family="codestral")
    await stack.assign("duo_chat", "mixtral-8x7b")
    await stack.assign("code_completions", "codestral-22b")
    return gateway


def _client(gateway: Gateway, *scopes: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"{gateway.url}/v1",
        api_key=gateway.stack.token(*scopes),
        max_retries=0,
        timeout=10,
    )


@pytest.fixture
async def sdk(configured: Gateway) -> AsyncIterator[openai.AsyncOpenAI]:
    async with _client(configured, "duo_chat", "complete_code") as client:
        yield client


async def test_the_sdk_streams_a_chat_completion_with_usage(
    sdk: openai.AsyncOpenAI, configured: Gateway
) -> None:
    stream = await sdk.chat.completions.create(
        model="mixtral-8x7b",
        messages=[{"role": "user", "content": "Say something."}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ANSWER
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.completion_tokens == 6
    assert usage.total_tokens == usage.prompt_tokens + 6
    [record] = configured.records()
    assert record["stream"] is True
    assert record["body"]["messages"] == [{"role": "user", "content": "Say something."}]


async def test_the_sdk_gets_a_whole_chat_completion(sdk: openai.AsyncOpenAI) -> None:
    completion = await sdk.chat.completions.create(
        model="feature:duo_chat",
        messages=[{"role": "user", "content": "Say something."}],
        max_tokens=3,
    )

    assert completion.choices[0].message.content == simulated_text(3)
    assert completion.choices[0].finish_reason == "length"
    assert completion.model == "feature:duo_chat"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 3


async def test_the_sdk_gets_text_completions(sdk: openai.AsyncOpenAI, configured: Gateway) -> None:
    whole = await sdk.completions.create(model="codestral-22b", prompt="def fib(n):")
    stream = await sdk.completions.create(model="codestral-22b", prompt="def fib(n):", stream=True)
    streamed = "".join([chunk.choices[0].text async for chunk in stream])

    assert whole.choices[0].text == ANSWER
    assert streamed == ANSWER
    assert [r["body"]["prompt"] for r in configured.records()] == ["def fib(n):"] * 2


async def test_the_sdk_lists_what_the_token_may_use(configured: Gateway) -> None:
    async with _client(configured, "duo_chat") as chat_only:
        page = await chat_only.models.list()

    assert [model.id for model in page.data] == ["mixtral-8x7b", "feature:duo_chat"]


async def test_the_sdk_raises_its_own_errors(configured: Gateway) -> None:
    async with _client(configured, "duo_chat") as chat_only:
        with pytest.raises(openai.NotFoundError) as not_allowed:
            await chat_only.completions.create(model="codestral-22b", prompt="x")
        with pytest.raises(openai.BadRequestError) as bad:
            await chat_only.chat.completions.create(
                model="mixtral-8x7b", messages=[{"role": "user", "content": "x"}], n=3
            )
    async with openai.AsyncOpenAI(
        base_url=f"{configured.url}/v1", api_key="not-a-token", max_retries=0
    ) as anonymous:
        with pytest.raises(openai.AuthenticationError):
            await anonymous.models.list()

    assert not_allowed.value.code == "model_not_found"
    assert bad.value.param == "n"
    assert configured.records() == []


async def test_closing_an_sdk_stream_stops_the_model(
    sdk: openai.AsyncOpenAI, configured: Gateway
) -> None:
    configured.stack.simulator.state.config = SimulatorConfig(tokens=10_000, tokens_per_second=200)

    stream = await sdk.chat.completions.create(
        model="mixtral-8x7b", messages=[{"role": "user", "content": "Go on."}], stream=True
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    await stream.close()

    [record] = await eventually(
        lambda: [r for r in configured.records() if r["disconnected"]], timeout_s=5
    )
    assert len(record["sent_text"].split()) < 10_000


async def test_a_max_tokens_beyond_the_served_context_is_a_400_naming_the_limit(
    configured: Gateway,
) -> None:
    configured.stack.simulator.state.config = SimulatorConfig(tokens=6, max_model_len=1024)
    # The SDK's default retries: a 503 would be sent three more times, a 400 never.
    async with openai.AsyncOpenAI(
        base_url=f"{configured.url}/v1",
        api_key=configured.stack.token("duo_chat"),
        max_retries=2,
        timeout=10,
    ) as client:
        with pytest.raises(openai.BadRequestError) as refused:
            await client.chat.completions.create(
                model="mixtral-8x7b",
                messages=[{"role": "user", "content": "hi"}],
                max_tokens=5000,
            )

    error = refused.value.body
    assert isinstance(error, dict)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "max_tokens"
    assert "1024 tokens" in error["message"]
    assert configured.records() == []


async def test_the_servers_own_refusal_is_a_400_with_its_words(configured: Gateway) -> None:
    configured.stack.simulator.state.config = SimulatorConfig(tokens=6, max_model_len=1024)
    async with _client(configured, "duo_chat") as client:
        with pytest.raises(openai.BadRequestError) as refused:
            await client.chat.completions.create(
                model="mixtral-8x7b", messages=[{"role": "user", "content": "word " * 2000}]
            )

    error = refused.value.body
    assert isinstance(error, dict)
    assert error["type"] == "invalid_request_error"
    assert "maximum context length is 1024 tokens" in error["message"]
    assert configured.stack.simulator.endpoint not in error["message"]
    assert len(configured.records()) == 1
