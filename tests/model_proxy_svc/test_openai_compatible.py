"""How the OpenAI-compatible adapter maps what vLLM answers, through the real service."""

from __future__ import annotations

import dataclasses

import grpc
import pytest

from aigw.modelproxy.v1 import model_proxy_service_pb2 as pb
from aigw_simulator import BackgroundSimulator, simulated_text
from tests.model_proxy_svc.conftest import (
    SIM_TOKENS,
    Proxy,
    chat,
    details,
    failure,
    prompt,
    read_until_error,
)


def _configure(sim: BackgroundSimulator, **changes: object) -> None:
    sim.state.config = dataclasses.replace(sim.state.config, **changes)  # type: ignore[arg-type]


async def _stream(proxy: Proxy, generation: pb.Generation) -> list[pb.StreamGenerateResponse]:
    return [
        c async for c in proxy.stub.StreamGenerate(pb.StreamGenerateRequest(generation=generation))
    ]


_INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("status", "code", "fragment"),
    [
        (500, grpc.StatusCode.UNAVAILABLE, "the server failed (HTTP 500 with no detail)"),
        (503, grpc.StatusCode.UNAVAILABLE, "the server failed (HTTP 503: simulated failure)"),
        (429, grpc.StatusCode.UNAVAILABLE, "overloaded (HTTP 429: simulated failure); retry later"),
        # The request itself is wrong: a caller mistake, never retried.
        (
            400,
            grpc.StatusCode.INVALID_ARGUMENT,
            "refused the request (HTTP 400: simulated failure)",
        ),
        (
            422,
            grpc.StatusCode.INVALID_ARGUMENT,
            "refused the request (HTTP 422: simulated failure)",
        ),
        (
            413,
            grpc.StatusCode.INVALID_ARGUMENT,
            "refused the request (HTTP 413: simulated failure)",
        ),
        (
            409,
            grpc.StatusCode.FAILED_PRECONDITION,
            "rejected the request (HTTP 409: simulated failure)",
        ),
    ],
)
@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "unary"])
async def test_http_status_mapping(
    proxy: Proxy,
    simulator: BackgroundSimulator,
    status: int,
    code: grpc.StatusCode,
    fragment: str,
    streamed: bool,
) -> None:
    _configure(simulator, fail_status=status)
    generation = chat(simulator.endpoint)

    error = await failure(proxy, generation, streamed=streamed)

    assert error.code() == code
    assert fragment in details(error)
    assert "model 'sim-model' ('aigw-simulator' at " in details(error)


async def test_vllm_400_message_is_relayed(proxy: Proxy, simulator: BackgroundSimulator) -> None:
    _configure(simulator, max_model_len=4)
    generation = prompt(simulator.endpoint, text="one two three four five six")
    generation.parameters.max_tokens = 2

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await proxy.stub.Generate(pb.GenerateRequest(generation=generation))

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "maximum context length is 4 tokens" in details(caught.value)


async def test_nested_error_shape_is_understood(
    proxy: Proxy, simulator: BackgroundSimulator
) -> None:
    _configure(simulator, error_shape="nested")
    generation = chat(simulator.endpoint, identifier="gone")

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await proxy.stub.Generate(pb.GenerateRequest(generation=generation))

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "The model `gone` does not exist." in details(caught.value)
    assert "ListProviderModels" in details(caught.value)


async def test_endpoint_without_v1_is_explained(
    proxy: Proxy, simulator: BackgroundSimulator
) -> None:
    generation = chat(simulator.base_url)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await proxy.stub.Generate(pb.GenerateRequest(generation=generation))

    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "no /chat/completions route" in details(caught.value)
    assert "ending in /v1" in details(caught.value)


async def test_in_band_error_after_some_chunks(
    proxy: Proxy, simulator: BackgroundSimulator
) -> None:
    _configure(simulator, error_after_tokens=2)
    call = proxy.stub.StreamGenerate(
        pb.StreamGenerateRequest(generation=prompt(simulator.endpoint))
    )

    received, error = await read_until_error(call)

    assert "".join(c.text for c in received) == " tok0 tok1"
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "failed mid-stream: simulated failure after 2 tokens" in details(error)


async def test_connection_is_reused_across_requests(
    proxy: Proxy, simulator: BackgroundSimulator
) -> None:
    for _ in range(3):
        chunks = await _stream(proxy, chat(simulator.endpoint))
        assert "".join(c.text for c in chunks) == simulated_text(SIM_TOKENS)
        await proxy.stub.Generate(pb.GenerateRequest(generation=prompt(simulator.endpoint)))

    # Every response was read to its end, so one pooled connection served all six requests.
    records = simulator.state.recorder.snapshot()
    assert len(records) == 6
    assert {r["client"] for r in records} == {records[0]["client"]}
