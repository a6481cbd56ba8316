"""Malformed requests are INVALID_ARGUMENT naming the field, and the service keeps serving."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2

from aigw.common.v1 import common_pb2
from aigw.modelproxy.v1 import model_proxy_service_pb2 as pb
from aigw_simulator import BackgroundSimulator, simulated_text
from tests.model_proxy_svc.conftest import (
    SIM_TOKENS,
    Proxy,
    chat,
    details,
    failure,
    prompt,
)

Mutation = Callable[[pb.Generation], None]


def _set(path: str, value: object) -> Mutation:
    def mutate(generation: pb.Generation) -> None:
        *parents, name = path.split(".")
        holder = generation
        for parent in parents:
            holder = getattr(holder, parent)
        setattr(holder, name, value)

    return mutate


def _stops(count: int) -> Mutation:
    return lambda generation: generation.parameters.stop_sequences.extend(["x"] * count)


def _message(role: int) -> Mutation:
    return lambda generation: generation.chat.messages.append(common_pb2.Message(role=role))  # type: ignore[arg-type]


def _timeout(seconds: int) -> Mutation:
    return lambda generation: generation.target.limits.timeout.CopyFrom(
        duration_pb2.Duration(seconds=seconds)
    )


CASES: list[tuple[str, Mutation, str]] = [
    ("no target", lambda g: g.ClearField("target"), "generation.target"),
    ("no platform", _set("target.platform", 0), "generation.target.platform"),
    ("unknown platform", _set("target.platform", 99), "generation.target.platform"),
    ("no endpoint", _set("target.endpoint", ""), "generation.target.endpoint"),
    ("ftp endpoint", _set("target.endpoint", "ftp://host/v1"), "generation.target.endpoint"),
    ("no host", _set("target.endpoint", "http:///v1"), "generation.target.endpoint"),
    ("no identifier", _set("target.identifier", " "), "generation.target.identifier"),
    ("negative timeout", _timeout(-1), "generation.target.limits.timeout"),
    ("no input", lambda g: g.ClearField("prompt"), "generation.prompt"),
    ("empty prompt", _set("prompt", ""), "generation.prompt"),
    ("zero max_tokens", _set("parameters.max_tokens", 0), "generation.parameters.max_tokens"),
    (
        "over the model's max",
        _set("parameters.max_tokens", 101),
        "generation.parameters.max_tokens",
    ),
    ("hot temperature", _set("parameters.temperature", 2.5), "generation.parameters.temperature"),
    ("cold temperature", _set("parameters.temperature", -0.1), "generation.parameters.temperature"),
    ("zero top_p", _set("parameters.top_p", 0.0), "generation.parameters.top_p"),
    ("big top_p", _set("parameters.top_p", 1.5), "generation.parameters.top_p"),
    ("17 stops", _stops(17), "generation.parameters.stop_sequences"),
]


def _field_violation(error: grpc.aio.AioRpcError) -> str:
    raw = dict(error.trailing_metadata() or ())["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(raw)
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            return str(bad_request.field_violations[0].field)
    raise AssertionError("no BadRequest detail")


@pytest.mark.parametrize(
    ("mutate", "field"), [(m, f) for _, m, f in CASES], ids=[c[0] for c in CASES]
)
@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "unary"])
async def test_invalid_generation(
    proxy: Proxy, simulator: BackgroundSimulator, mutate: Mutation, field: str, streamed: bool
) -> None:
    generation = prompt(simulator.endpoint, limits=common_pb2.ModelLimits(max_output_tokens=100))
    mutate(generation)

    error = await failure(proxy, generation, streamed=streamed)

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(error).startswith(field)
    assert _field_violation(error) == field
    assert simulator.state.recorder.snapshot() == []


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda g: g.chat.ClearField("messages"), "generation.chat.messages"),
        (_message(common_pb2.ROLE_UNSPECIFIED), "generation.chat.messages[1].role"),
        (_message(42), "generation.chat.messages[1].role"),
    ],
    ids=["no messages", "unset role", "unknown role"],
)
async def test_invalid_chat(
    proxy: Proxy, simulator: BackgroundSimulator, mutate: Mutation, field: str
) -> None:
    generation = chat(simulator.endpoint)
    mutate(generation)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await proxy.stub.Generate(pb.GenerateRequest(generation=generation))

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _field_violation(caught.value) == field


async def test_missing_generation_and_target(proxy: Proxy) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await proxy.stub.Generate(pb.GenerateRequest())
    assert _field_violation(caught.value) == "generation"

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await proxy.stub.ListProviderModels(pb.ListProviderModelsRequest())
    assert _field_violation(caught.value) == "target"

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await proxy.stub.ListProviderModels(
            pb.ListProviderModelsRequest(
                target=common_pb2.ModelTarget(
                    platform=common_pb2.PLATFORM_OPENAI_COMPATIBLE, endpoint="vllm:8000"
                )
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _field_violation(caught.value) == "target.endpoint"


async def test_service_keeps_serving_after_bad_requests(
    proxy: Proxy, simulator: BackgroundSimulator
) -> None:
    for _ in range(3):
        with pytest.raises(grpc.aio.AioRpcError):
            await proxy.stub.Generate(pb.GenerateRequest())

    generation = prompt(simulator.endpoint)
    generation.parameters.max_tokens = SIM_TOKENS
    generation.parameters.temperature = 0
    generation.parameters.top_p = 1

    response = await proxy.stub.Generate(pb.GenerateRequest(generation=generation))

    assert response.text == simulated_text(SIM_TOKENS)
    (record,) = simulator.state.recorder.snapshot()
    assert record["body"]["temperature"] == 0
    assert record["body"]["top_p"] == 1
