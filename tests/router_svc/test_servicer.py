"""RouterService through its interceptors, against real config_svc, model_proxy_svc and the
simulator over real sockets."""

from __future__ import annotations

import time
from typing import Any

import grpc
import pytest

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from aigw_cli.local_suite import free_ports
from aigw_common import errors
from aigw_common.grpc_errors import from_rpc_error
from aigw_simulator import SimulatorConfig, simulated_text
from tests.polling import eventually
from tests.router_svc.conftest import SIMULATED_TOKENS, Stack, generations

CODE = router_service_pb2.CodeContext(
    file_name="app.py", content_above_cursor="def add(a, b):\n    ", content_below_cursor=""
)


def _completion(
    feature: str = "code_completions", **fields: object
) -> router_service_pb2.Completion:
    if not fields:
        fields = {"code": CODE}
    return router_service_pb2.Completion(feature=feature, **fields)  # type: ignore[arg-type]


async def test_streams_the_models_answer_with_usage_and_who_served_it(stack: Stack) -> None:
    await stack.add_model("codestral", stack.simulator.endpoint)
    await stack.assign("code_completions", "codestral")

    chunks = [
        chunk
        async for chunk in stack.router.StreamComplete(
            router_service_pb2.StreamCompleteRequest(completion=_completion()),
            metadata=stack.metadata("complete_code"),
            timeout=10,
        )
    ]

    assert "".join(c.text for c in chunks) == simulated_text(SIMULATED_TOKENS)
    assert chunks[0].served_by.model == "codestral"
    assert chunks[0].served_by.platform == common_pb2.PLATFORM_OPENAI_COMPATIBLE
    assert chunks[-1].finish_reason == common_pb2.FINISH_REASON_STOP
    assert chunks[-1].usage.output_tokens == SIMULATED_TOKENS
    [record] = generations(stack.simulator)
    # Codestral's fill-in-the-middle layout went to the completions API.
    assert record["path"] == "/v1/completions"
    assert record["body"]["prompt"] == "[SUFFIX][PREFIX]def add(a, b):\n    "


async def test_unary_completion_returns_the_whole_answer(stack: Stack) -> None:
    await stack.add_model("gpt", stack.simulator.endpoint, family="gpt")
    await stack.assign("code_generations", "gpt")

    response = await stack.router.Complete(
        router_service_pb2.CompleteRequest(completion=_completion("code_generations")),
        metadata=stack.metadata("generate_code"),
        timeout=10,
    )

    assert response.text == simulated_text(SIMULATED_TOKENS)
    assert response.served_by.family == "gpt"
    [record] = generations(stack.simulator)
    assert record["path"] == "/v1/chat/completions"


async def test_an_unreachable_model_falls_back_to_the_next_before_any_output(stack: Stack) -> None:
    await stack.add_model("down", f"http://127.0.0.1:{free_ports(1)[0]}/v1")
    await stack.add_model("up", stack.simulator.endpoint)
    await stack.assign("code_completions", "down", "up")

    chunks = [
        chunk
        async for chunk in stack.router.StreamComplete(
            router_service_pb2.StreamCompleteRequest(completion=_completion()),
            metadata=stack.metadata("complete_code"),
            timeout=10,
        )
    ]

    assert chunks[0].served_by.model == "up"
    assert "".join(c.text for c in chunks) == simulated_text(SIMULATED_TOKENS)


async def test_callers_need_a_valid_token_and_the_features_scope(stack: Stack) -> None:
    await stack.add_model("codestral", stack.simulator.endpoint)
    await stack.assign("code_completions", "codestral")
    request = router_service_pb2.CompleteRequest(completion=_completion())

    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stack.router.Complete(request, timeout=5)
    assert missing.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as forged:
        await stack.router.Complete(
            request, metadata=[("authorization", "Bearer eyJhbGciOiJub25lIn0.e30.")], timeout=5
        )
    assert forged.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as wrong_scope:
        await stack.router.Complete(request, metadata=stack.metadata("duo_chat"), timeout=5)
    assert wrong_scope.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "complete_code" in (wrong_scope.value.details() or "")
    assert generations(stack.simulator) == []


async def test_unassigned_and_disabled_features_are_clear_errors(stack: Stack) -> None:
    await stack.assign("duo_chat", disabled=True)
    for feature in ("code_completions", "duo_chat"):
        completion = (
            _completion(feature) if feature != "duo_chat" else _completion("duo_chat", prompt="hi")
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stack.router.Complete(
                router_service_pb2.CompleteRequest(completion=completion),
                metadata=stack.metadata("complete_code", "duo_chat"),
                timeout=5,
            )
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert feature in (caught.value.details() or "")
        assert isinstance(from_rpc_error(caught.value), errors.FeatureUnavailable)


async def test_bad_input_names_the_field_and_the_router_keeps_serving(stack: Stack) -> None:
    await stack.add_model("codestral", stack.simulator.endpoint)
    await stack.assign("code_completions", "codestral")
    metadata = stack.metadata("complete_code")
    bad = [
        (_completion("no_such_feature"), "completion.feature"),
        (_completion(prompt="x"), "completion.code"),
        (
            _completion(code=CODE, parameters=common_pb2.GenerationParameters(top_p=0)),
            "completion.parameters.top_p",
        ),
    ]
    for completion, field in bad:
        with pytest.raises(grpc.aio.AioRpcError) as unary:
            await stack.router.Complete(
                router_service_pb2.CompleteRequest(completion=completion),
                metadata=metadata,
                timeout=5,
            )
        stream = stack.router.StreamComplete(
            router_service_pb2.StreamCompleteRequest(completion=completion),
            metadata=metadata,
            timeout=5,
        )
        with pytest.raises(grpc.aio.AioRpcError) as streamed:
            await stream.read()
        for caught in (unary, streamed):
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert from_rpc_error(caught.value).field == field
    response = await stack.router.Complete(
        router_service_pb2.CompleteRequest(completion=_completion()), metadata=metadata, timeout=5
    )
    assert response.text


async def test_cancelling_a_stream_closes_the_model_servers_response(stack: Stack) -> None:
    stack.simulator.state.config = SimulatorConfig(tokens=10_000, tokens_per_second=100)
    await stack.add_model("codestral", stack.simulator.endpoint)
    await stack.assign("code_completions", "codestral")

    call = stack.router.StreamComplete(
        router_service_pb2.StreamCompleteRequest(completion=_completion()),
        metadata=stack.metadata("complete_code"),
    )
    await call.read()
    await call.read()
    call.cancel()
    cancelled_at = time.time()

    record = await eventually(lambda: _last_if_disconnected(stack))
    assert record is not None
    assert record["ended_at"] - cancelled_at < 1.0


async def test_the_callers_deadline_reaches_the_model_call(stack: Stack) -> None:
    stack.simulator.state.config = SimulatorConfig(tokens=10_000, tokens_per_second=100)
    await stack.add_model("codestral", stack.simulator.endpoint)
    await stack.assign("code_completions", "codestral")

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.router.Complete(
            router_service_pb2.CompleteRequest(completion=_completion()),
            metadata=stack.metadata("complete_code"),
            timeout=0.5,
        )
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await eventually(lambda: _last_if_disconnected(stack))


def _last_if_disconnected(stack: Stack) -> dict[str, Any] | None:
    records = generations(stack.simulator)
    return records[-1] if records and records[-1]["disconnected"] else None
