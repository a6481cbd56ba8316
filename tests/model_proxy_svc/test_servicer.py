"""ModelProxyService end to end: gRPC in, real HTTP to the simulator out."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2

from aigw.common.v1 import common_pb2
from aigw.modelproxy.v1 import model_proxy_service_pb2 as pb
from aigw_common.secrets_box import SecretsBox
from aigw_simulator import BackgroundSimulator, simulated_text
from tests.model_proxy_svc.conftest import (
    SIM_TOKENS,
    Proxy,
    chat,
    details,
    failure,
    prompt,
    read_chunk,
    read_until_error,
    target,
)


def _records(sim: BackgroundSimulator) -> list[dict[str, Any]]:
    return sim.state.recorder.snapshot()


def _slow(sim: BackgroundSimulator, **changes: object) -> None:
    sim.state.config = dataclasses.replace(sim.state.config, **changes)  # type: ignore[arg-type]


async def _wait_for(condition: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.01)
    return False


@pytest.mark.parametrize("make", [chat, prompt], ids=["chat", "prompt"])
async def test_stream_generate_relays_the_whole_answer(
    proxy: Proxy, simulator: BackgroundSimulator, make: object
) -> None:
    generation = make(simulator.endpoint)  # type: ignore[operator]
    chunks = [
        c async for c in proxy.stub.StreamGenerate(pb.StreamGenerateRequest(generation=generation))
    ]

    assert "".join(c.text for c in chunks) == simulated_text(SIM_TOKENS)
    *head, last = chunks
    assert all(c.finish_reason == common_pb2.FINISH_REASON_UNSPECIFIED for c in head)
    assert not any(c.HasField("usage") for c in head)
    assert last.finish_reason == common_pb2.FINISH_REASON_STOP
    assert last.usage.output_tokens == SIM_TOKENS
    # The simulator counts prompt words as tokens.
    assert last.usage.input_tokens == {chat: 2, prompt: 3}[make]  # type: ignore[index]
    (record,) = _records(simulator)
    assert record["stream"] is True
    assert record["completed"] is True


async def test_a_paced_stream_is_relayed_token_by_token(
    proxy: Proxy, simulator: BackgroundSimulator
) -> None:
    # 100 ms between tokens: each is relayed before the next exists; none waits to be merged.
    _slow(simulator, tokens=3, tokens_per_second=10)
    request = pb.StreamGenerateRequest(generation=prompt(simulator.endpoint))
    chunks = [c async for c in proxy.stub.StreamGenerate(request)]

    assert [c.text for c in chunks] == [" tok0", " tok1", " tok2"]


@pytest.mark.parametrize("make", [chat, prompt], ids=["chat", "prompt"])
async def test_generate_returns_the_whole_answer(
    proxy: Proxy, simulator: BackgroundSimulator, make: object
) -> None:
    generation = make(simulator.endpoint)  # type: ignore[operator]
    generation.parameters.max_tokens = 5

    response = await proxy.stub.Generate(pb.GenerateRequest(generation=generation))

    assert response.text == simulated_text(5)
    assert response.finish_reason == common_pb2.FINISH_REASON_LENGTH
    assert response.usage.output_tokens == 5
    (record,) = _records(simulator)
    assert record["stream"] is False


async def test_only_known_fields_are_sent(proxy: Proxy, simulator: BackgroundSimulator) -> None:
    generation = prompt(simulator.endpoint)
    generation.parameters.temperature = 0.2
    generation.parameters.top_p = 0.9
    generation.parameters.stop_sequences.append("tok3")
    generation.parameters.stop_token_ids.append(2)

    chunks = [
        c async for c in proxy.stub.StreamGenerate(pb.StreamGenerateRequest(generation=generation))
    ]

    assert "".join(c.text for c in chunks) == " tok0 tok1 tok2 "
    assert chunks[-1].finish_reason == common_pb2.FINISH_REASON_STOP
    (record,) = _records(simulator)
    assert record["path"] == "/v1/completions"
    assert record["body"] == {
        "model": "aigw-simulator",
        "prompt": "def add(a, b):",
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["tok3"],
        "stop_token_ids": [2],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def test_chat_body_and_no_empty_optional_fields(
    proxy: Proxy, simulator: BackgroundSimulator
) -> None:
    generation = chat(simulator.endpoint)
    generation.chat.messages.insert(
        0, common_pb2.Message(role=common_pb2.ROLE_SYSTEM, content="Be brief.")
    )

    await proxy.stub.Generate(pb.GenerateRequest(generation=generation))

    (record,) = _records(simulator)
    assert record["path"] == "/v1/chat/completions"
    assert record["body"] == {
        "model": "aigw-simulator",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello there"},
        ],
        "stream": False,
    }
    assert record["authorization_present"] is False


async def test_request_id_reaches_the_model_server(
    proxy: Proxy, simulator: BackgroundSimulator
) -> None:
    request = pb.GenerateRequest(generation=chat(simulator.endpoint))
    await proxy.stub.Generate(request, metadata=(("x-request-id", "req-4711"),))
    call = proxy.stub.StreamGenerate(
        pb.StreamGenerateRequest(generation=prompt(simulator.endpoint)),
        metadata=(("x-request-id", "req-4712"),),
    )
    _ = [c async for c in call]

    assert [r["request_id"] for r in _records(simulator)] == ["req-4711", "req-4712"]


async def test_cancelling_a_stream_closes_the_upstream_response(
    proxy: Proxy, simulator: BackgroundSimulator
) -> None:
    _slow(simulator, tokens=1000, tokens_per_second=50)
    call = proxy.stub.StreamGenerate(pb.StreamGenerateRequest(generation=chat(simulator.endpoint)))
    received = [await read_chunk(call) for _ in range(3)]
    assert "".join(c.text for c in received) == simulated_text(3)

    call.cancel()
    cancelled_at = time.time()

    assert await _wait_for(lambda: _records(simulator)[0]["disconnected"], timeout_s=1.0)
    (record,) = _records(simulator)
    assert record["completed"] is False
    assert record["ended_at"] - cancelled_at < 1.0
    sent = record["sent_text"]
    await asyncio.sleep(0.1)
    assert _records(simulator)[0]["sent_text"] == sent  # the model stopped


async def test_cancelling_generate_closes_the_upstream_request(
    proxy: Proxy, simulator: BackgroundSimulator
) -> None:
    _slow(simulator, first_token_delay_s=5.0)
    call = proxy.stub.Generate(pb.GenerateRequest(generation=prompt(simulator.endpoint)))
    assert await _wait_for(lambda: _records(simulator), timeout_s=1.0)

    call.cancel()

    assert await _wait_for(lambda: _records(simulator)[0]["disconnected"], timeout_s=1.0)


async def test_caller_deadline_closes_the_upstream_response(
    proxy: Proxy, simulator: BackgroundSimulator
) -> None:
    _slow(simulator, tokens=1000, tokens_per_second=50)
    generation = prompt(simulator.endpoint)
    # vLLM's completions default to 16 tokens (0.32 s here): ask for all 1000 (20 s).
    generation.parameters.max_tokens = 1000
    call = proxy.stub.StreamGenerate(pb.StreamGenerateRequest(generation=generation), timeout=0.3)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        _ = [c async for c in call]
    error = caught.value

    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert await _wait_for(lambda: _records(simulator)[0]["disconnected"], timeout_s=1.0)


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "unary"])
async def test_model_timeout_is_deadline_exceeded(
    proxy: Proxy, simulator: BackgroundSimulator, streamed: bool
) -> None:
    _slow(simulator, first_token_delay_s=5.0)
    generation = chat(
        simulator.endpoint,
        limits=common_pb2.ModelLimits(timeout=duration_pb2.Duration(nanos=300_000_000)),
    )

    started = time.monotonic()
    error = await failure(proxy, generation, streamed=streamed)

    assert time.monotonic() - started < 2.0
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "'sim-model'" in details(error)
    assert "0.3 s" in details(error)
    assert await _wait_for(lambda: _records(simulator)[0]["disconnected"], timeout_s=1.0)


async def test_timeout_mid_stream_after_some_chunks(
    proxy: Proxy, simulator: BackgroundSimulator
) -> None:
    _slow(simulator, tokens=1000, tokens_per_second=20)
    generation = prompt(
        simulator.endpoint,
        limits=common_pb2.ModelLimits(timeout=duration_pb2.Duration(nanos=400_000_000)),
    )
    call = proxy.stub.StreamGenerate(pb.StreamGenerateRequest(generation=generation))

    received, error = await read_until_error(call)

    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert 2 <= len(received) < 20


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "unary"])
async def test_unknown_identifier_names_it(
    proxy: Proxy, simulator: BackgroundSimulator, streamed: bool
) -> None:
    generation = chat(simulator.endpoint, identifier="no-such-model")

    error = await failure(proxy, generation, streamed=streamed)

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    message = details(error)
    assert "'no-such-model'" in message
    assert simulator.endpoint in message
    assert "ListProviderModels" in message
    assert "The model `no-such-model` does not exist." in message


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "unary"])
async def test_connection_refused_is_unavailable(proxy: Proxy, streamed: bool) -> None:
    endpoint = f"http://127.0.0.1:{_unused_port()}/v1"
    generation = prompt(endpoint)

    error = await failure(proxy, generation, streamed=streamed)

    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "cannot connect" in details(error)
    assert endpoint in details(error)


async def test_api_key_is_sent_as_bearer(
    proxy: Proxy, simulator: BackgroundSimulator, secrets: SecretsBox
) -> None:
    _slow(simulator, api_key="sk-test-1234567890")
    generation = chat(simulator.endpoint, sealed_api_key=secrets.seal("sk-test-1234567890"))

    response = await proxy.stub.Generate(pb.GenerateRequest(generation=generation))
    models = await proxy.stub.ListProviderModels(
        pb.ListProviderModelsRequest(target=generation.target)
    )

    assert response.text == simulated_text(SIM_TOKENS)
    assert list(models.identifiers) == ["aigw-simulator"]
    assert [r["authorization_present"] for r in _records(simulator)] == [True, True]


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "unary"])
async def test_refused_api_key_never_appears_in_the_error(
    proxy: Proxy, simulator: BackgroundSimulator, secrets: SecretsBox, streamed: bool
) -> None:
    _slow(simulator, api_key="sk-right-key")
    generation = prompt(simulator.endpoint, sealed_api_key=secrets.seal("sk-wrong-key-42"))

    error = await failure(proxy, generation, streamed=streamed)

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "check the model's API key" in details(error)
    everything = details(error) + repr(error.trailing_metadata())
    assert "sk-wrong-key-42" not in everything
    assert "sk-right-key" not in everything


async def test_api_key_sealed_with_another_key_is_failed_precondition(
    proxy: Proxy, simulator: BackgroundSimulator
) -> None:
    from cryptography.fernet import Fernet

    other = SecretsBox(Fernet.generate_key())
    generation = chat(simulator.endpoint, sealed_api_key=other.seal("sk-elsewhere"))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await proxy.stub.Generate(pb.GenerateRequest(generation=generation))
    error = caught.value

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "sk-elsewhere" not in details(error)
    assert _records(simulator) == []


async def test_list_provider_models(proxy: Proxy, simulator: BackgroundSimulator) -> None:
    request = pb.ListProviderModelsRequest(
        target=common_pb2.ModelTarget(
            platform=common_pb2.PLATFORM_OPENAI_COMPATIBLE, endpoint=simulator.endpoint
        )
    )

    response = await proxy.stub.ListProviderModels(request)

    assert list(response.identifiers) == ["aigw-simulator"]
    (record,) = _records(simulator)
    assert record["path"] == "/v1/models"


async def test_list_provider_models_unreachable(proxy: Proxy) -> None:
    endpoint = f"http://127.0.0.1:{_unused_port()}/v1"
    request = pb.ListProviderModelsRequest(target=target(endpoint, identifier=""))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await proxy.stub.ListProviderModels(request)
    error = caught.value

    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert f"the model server at {endpoint}" in details(error)


async def test_concurrency_limit_per_model(proxy: Proxy, simulator: BackgroundSimulator) -> None:
    _slow(simulator, tokens=1000, tokens_per_second=50)
    limits = common_pb2.ModelLimits(max_concurrent_requests=1)
    generation = chat(simulator.endpoint, limits=limits)
    first = proxy.stub.StreamGenerate(pb.StreamGenerateRequest(generation=generation))
    await read_chunk(first)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await proxy.stub.Generate(pb.GenerateRequest(generation=generation))
    error = caught.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "'sim-model'" in details(error)

    other = chat(simulator.endpoint, name="other-model", limits=limits)
    other.parameters.max_tokens = 1
    assert (await proxy.stub.Generate(pb.GenerateRequest(generation=other))).text == " tok0"

    first.cancel()
    generation.parameters.max_tokens = 2
    assert await _wait_for(lambda: _records(simulator)[0]["disconnected"], timeout_s=1.0)
    response = await proxy.stub.Generate(pb.GenerateRequest(generation=generation))
    assert response.text == simulated_text(2)
