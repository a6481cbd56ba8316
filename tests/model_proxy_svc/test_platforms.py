"""What every platform's adapter must do, against the simulator over real HTTP with the real
client library (httpx, boto3): answers, faults and the status each becomes, retries only
before the first token, timeouts, and closing the upstream when the caller goes away."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from aigw.common.v1 import common_pb2
from aigw.modelproxy.v1 import model_proxy_service_pb2 as pb
from aigw_simulator import BackgroundSimulator, SimulatorConfig, simulated_text
from tests.model_proxy_svc.conftest import Proxy, details, failure, read_chunk, read_until_error
from tests.model_proxy_svc.platforms import ALL, BEDROCK, Platform
from tests.polling import eventually

TOKENS = 6


@pytest.fixture(params=ALL, ids=[p.id for p in ALL])
def platform(request: pytest.FixtureRequest, aws_environment: None) -> Platform:
    chosen: Platform = request.param
    return chosen


@pytest.fixture(scope="module")
def _sim() -> Iterator[BackgroundSimulator]:
    with BackgroundSimulator() as sim:
        yield sim


@pytest.fixture
def sim(_sim: BackgroundSimulator, platform: Platform) -> BackgroundSimulator:
    _sim.state.config = SimulatorConfig(tokens=TOKENS, model=platform.model)
    _sim.state.recorder.clear()
    return _sim


def _configure(sim: BackgroundSimulator, **changes: object) -> None:
    sim.state.config = dataclasses.replace(sim.state.config, **changes)  # type: ignore[arg-type]


def _records(sim: BackgroundSimulator) -> list[dict[str, Any]]:
    return sim.state.recorder.snapshot()


def _limits(**seconds: float) -> common_pb2.ModelLimits:
    limits = common_pb2.ModelLimits()
    for name, value in seconds.items():
        if name == "max_retries":
            limits.max_retries = int(value)
        else:
            getattr(limits, name).FromNanoseconds(int(value * 1e9))
    return limits


async def _stream(proxy: Proxy, generation: pb.Generation) -> list[pb.StreamGenerateResponse]:
    request = pb.StreamGenerateRequest(generation=generation)
    return [chunk async for chunk in proxy.stub.StreamGenerate(request, timeout=20)]


async def test_streamed_answer_with_finish_reason_and_usage(
    proxy: Proxy, sim: BackgroundSimulator, platform: Platform
) -> None:
    chunks = await _stream(proxy, platform.chat(sim))

    assert "".join(c.text for c in chunks) == simulated_text(TOKENS)
    assert chunks[-1].finish_reason == common_pb2.FINISH_REASON_STOP
    assert chunks[-1].usage.output_tokens == TOKENS
    assert chunks[-1].usage.input_tokens == 2
    # The simulator marks the record completed just after its last write: poll, do not race.
    (record,) = await eventually(lambda: [r for r in _records(sim) if r["completed"]])
    assert record["stream"]


async def test_a_paced_stream_is_relayed_as_produced(
    proxy: Proxy, sim: BackgroundSimulator, platform: Platform
) -> None:
    # 100 ms between tokens: each reaches the caller before the next exists. (A model that
    # outruns the caller has its queued tokens merged into fewer chunks.)
    _configure(sim, tokens=3, tokens_per_second=10)
    chunks = await _stream(proxy, platform.chat(sim))

    assert [c.text for c in chunks if c.text] == [" tok0", " tok1", " tok2"]


async def test_unary_answer(proxy: Proxy, sim: BackgroundSimulator, platform: Platform) -> None:
    generation = platform.chat(sim)
    generation.parameters.max_tokens = 4

    response = await proxy.stub.Generate(pb.GenerateRequest(generation=generation), timeout=20)

    assert response.text == simulated_text(4)
    assert response.finish_reason == common_pb2.FINISH_REASON_LENGTH
    assert (response.usage.input_tokens, response.usage.output_tokens) == (2, 4)
    (record,) = _records(sim)
    assert not record["stream"]


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "unary"])
async def test_each_fault_becomes_its_status(
    proxy: Proxy, sim: BackgroundSimulator, platform: Platform, streamed: bool
) -> None:
    for status, (code, fragment) in platform.faults.items():
        _configure(sim, fail_status=status)
        generation = platform.chat(sim, limits=_limits(max_retries=0))

        error = await failure(proxy, generation, streamed=streamed)

        assert (status, error.code()) == (status, code)
        assert fragment in details(error)
        assert f"'{platform.id}-model'" in details(error)


async def test_error_inside_a_200_stream(
    proxy: Proxy, sim: BackgroundSimulator, platform: Platform
) -> None:
    _configure(sim, error_after_tokens=2)
    call = proxy.stub.StreamGenerate(pb.StreamGenerateRequest(generation=platform.chat(sim)))

    received, error = await read_until_error(call)

    assert "".join(c.text for c in received) == simulated_text(2)
    assert error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.FAILED_PRECONDITION)
    assert platform.mid_stream_error in details(error)
    # Tokens had been relayed: the request was not tried again.
    assert len(_records(sim)) == 1


async def test_connection_cut_mid_stream_is_unavailable(
    proxy: Proxy, sim: BackgroundSimulator, platform: Platform
) -> None:
    _configure(sim, cut_after_tokens=2)
    call = proxy.stub.StreamGenerate(pb.StreamGenerateRequest(generation=platform.chat(sim)))

    received, error = await read_until_error(call)

    assert "".join(c.text for c in received) == simulated_text(2)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert f"'{platform.id}-model'" in details(error)
    assert len(_records(sim)) == 1


async def test_a_connection_cut_before_the_first_token_is_retried(
    proxy: Proxy, sim: BackgroundSimulator, platform: Platform
) -> None:
    if platform is BEDROCK:
        pytest.skip("boto3's broken streams are mapped by the Bedrock adapter, not retried")
    # As a kept-alive connection the server closes just as the proxy reuses it.
    _configure(sim, cut_after_tokens=0)
    call = proxy.stub.StreamGenerate(pb.StreamGenerateRequest(generation=platform.chat(sim)))

    received, error = await read_until_error(call)

    assert received == []
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert len(_records(sim)) == 3  # the first attempt and two retries (the default)
    assert "gave up after 3 attempts" in details(error)


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "unary"])
async def test_retry_then_success_before_the_first_token(
    proxy: Proxy, sim: BackgroundSimulator, platform: Platform, streamed: bool
) -> None:
    _configure(sim, fail_status=platform.retry_status, fail_count=2, retry_after_s=0.05)
    generation = platform.chat(sim)

    if streamed:
        text = "".join(c.text for c in await _stream(proxy, generation))
    else:
        request = pb.GenerateRequest(generation=generation)
        text = (await proxy.stub.Generate(request, timeout=20)).text

    assert text == simulated_text(TOKENS)
    assert [r["status"] for r in _records(sim)] == [platform.retry_status] * 2 + [200]


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "unary"])
async def test_a_500_before_the_first_token_is_called_three_times_in_all(
    proxy: Proxy, sim: BackgroundSimulator, platform: Platform, streamed: bool
) -> None:
    # As GitLab's gateway: an internal server error (for vLLM, a passing engine error) is tried
    # again, the first attempt and two retries by default.
    _configure(sim, fail_status=500)

    error = await failure(proxy, platform.chat(sim), streamed=streamed)

    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "gave up after 3 attempts" in details(error)
    assert [r["status"] for r in _records(sim)] == [500] * 3


async def test_retries_are_bounded_by_the_models_count(
    proxy: Proxy, sim: BackgroundSimulator, platform: Platform
) -> None:
    _configure(sim, fail_status=platform.retry_status, retry_after_s=0.01)
    generation = platform.chat(sim, limits=_limits(max_retries=1))

    error = await failure(proxy, generation, streamed=True)

    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "gave up after 2 attempts" in details(error)
    assert len(_records(sim)) == 2


async def test_a_retry_after_beyond_the_budget_is_not_waited_for(
    proxy: Proxy, sim: BackgroundSimulator, platform: Platform
) -> None:
    if platform is BEDROCK:
        pytest.skip("Bedrock sends no Retry-After")
    _configure(sim, fail_status=429, retry_after_s=60)
    started = time.monotonic()

    error = await failure(proxy, platform.chat(sim), streamed=True)

    assert time.monotonic() - started < 5
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "asked to retry after 60 s" in details(error)
    assert len(_records(sim)) == 1


async def test_cancelling_closes_the_upstream_within_a_second(
    proxy: Proxy, sim: BackgroundSimulator, platform: Platform
) -> None:
    _configure(sim, tokens=1000, tokens_per_second=50)
    call = proxy.stub.StreamGenerate(pb.StreamGenerateRequest(generation=platform.chat(sim)))
    await read_chunk(call)
    await read_chunk(call)

    call.cancel()
    cancelled_at = time.time()

    (record,) = await eventually(
        lambda: [r for r in _records(sim) if r["disconnected"]], timeout_s=2.0
    )
    assert record["ended_at"] - cancelled_at < 1.0
    assert not record["completed"]


async def test_cancelling_a_silent_stream_closes_the_upstream(
    proxy: Proxy, sim: BackgroundSimulator, platform: Platform
) -> None:
    # The worst case for a blocking client (boto3): its thread is waiting on a silent socket.
    _configure(sim, stall_after_tokens=1)
    call = proxy.stub.StreamGenerate(pb.StreamGenerateRequest(generation=platform.chat(sim)))
    await read_chunk(call)
    await asyncio.sleep(0.2)

    call.cancel()
    cancelled_at = time.time()

    (record,) = await eventually(
        lambda: [r for r in _records(sim) if r["disconnected"]], timeout_s=2.0
    )
    assert record["ended_at"] - cancelled_at < 1.0


_CLOSE_SEEN_WITHIN_S = 3.0


def _any_disconnected(sim: BackgroundSimulator) -> bool:
    # Polled as a whole: under load the request may reach the simulator after our first check.
    return any(record["disconnected"] for record in _records(sim))


async def test_first_token_timeout(
    proxy: Proxy, sim: BackgroundSimulator, platform: Platform
) -> None:
    # One answer first: a Bedrock client's first creation (boto3 loading its endpoint data in a
    # worker thread) can outlast the 0.3 s, and then no request ever reaches the server to close.
    await _stream(proxy, platform.chat(sim))
    _configure(sim, first_token_delay_s=5)
    generation = platform.chat(sim, limits=_limits(first_token_timeout=0.3))
    started = time.monotonic()

    error = await failure(proxy, generation, streamed=True)

    assert time.monotonic() - started < 2
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "no first token within 0.3 s" in details(error)
    # The proxy closes at once; a simulator that has sent nothing yet notices only when it next
    # checks the socket, which a loaded machine delays (the 1 s bound is tested on cancellation).
    await eventually(lambda: _any_disconnected(sim), timeout_s=_CLOSE_SEEN_WITHIN_S)


async def test_idle_timeout_after_some_chunks(
    proxy: Proxy, sim: BackgroundSimulator, platform: Platform
) -> None:
    _configure(sim, stall_after_tokens=2)
    generation = platform.chat(sim, limits=_limits(idle_timeout=0.3))
    call = proxy.stub.StreamGenerate(pb.StreamGenerateRequest(generation=generation))

    received, error = await read_until_error(call)

    assert "".join(c.text for c in received) == simulated_text(2)
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "nothing arrived for 0.3 s" in details(error)
    await eventually(lambda: _any_disconnected(sim), timeout_s=_CLOSE_SEEN_WITHIN_S)


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "unary"])
async def test_total_timeout(
    proxy: Proxy, sim: BackgroundSimulator, platform: Platform, streamed: bool
) -> None:
    _configure(sim, tokens=1000, tokens_per_second=20)
    generation = platform.chat(sim, limits=_limits(timeout=0.5))

    error = await failure(proxy, generation, streamed=streamed)

    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "no complete answer within 0.5 s" in details(error)
    if not (streamed or platform is BEDROCK):  # boto3 cannot abandon a unary call
        await eventually(lambda: _any_disconnected(sim), timeout_s=_CLOSE_SEEN_WITHIN_S)
