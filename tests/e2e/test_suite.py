"""The whole suite as real processes, started the way `aigw up` starts them, with the simulator."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aigw.config.v1 import config_service_pb2, config_service_pb2_grpc
from aigw.router.v1 import router_service_pb2, router_service_pb2_grpc
from aigw_cli.local_suite import LocalSuite, free_ports, local_suite
from tests.polling import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

GRPC_SERVICES = {
    "router_svc": "aigw.router.v1.RouterService",
    "auth_svc": "aigw.auth.v1.AuthService",
    "config_svc": "aigw.config.v1.ConfigService",
    "model_proxy_svc": "aigw.modelproxy.v1.ModelProxyService",
}


@pytest.fixture
async def suite(tmp_path: Path) -> AsyncIterator[LocalSuite]:
    started = time.monotonic()
    async with local_suite(tmp_path / "aigw", env={"AIGW_ROUTER__GRACE_PERIOD_S": "2"}) as suite:
        print(f"suite healthy after {time.monotonic() - started:.2f} s")
        yield suite


async def _simulator_records(url: str) -> list[dict[str, object]]:
    """What the simulator was asked to generate (not the router's GET /v1/models, which asks
    for the served context once per server)."""
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(f"{url}/_simulator/requests")
        records: list[dict[str, object]] = response.json()
        return [record for record in records if record["path"] != "/v1/models"]


async def _clear_records(url: str) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        await client.delete(f"{url}/_simulator/requests")


def _completion(feature: str = "code_completions") -> router_service_pb2.StreamCompleteRequest:
    return router_service_pb2.StreamCompleteRequest(
        completion=router_service_pb2.Completion(
            feature=feature,
            code=router_service_pb2.CodeContext(
                file_name="fib.py", content_above_cursor="def fib(n):\n    "
            ),
        )
    )


def _logged_with_id(log_file: Path, request_id: str) -> bool:
    if not log_file.exists():
        return False
    lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    return any(
        line.get("correlation_id") == request_id and line.get("message") in _HOP_LINES
        for line in lines
    )


_HOP_LINES = ("access", "upstream call")


async def _grpc_health(port: int, service: str) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub: Any = health_pb2_grpc.HealthStub(channel)
        response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
        return int(response.status)


async def _wait_for_disconnect(url: str, deadline_s: float) -> dict[str, object]:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        records = await _simulator_records(url)
        if records and records[-1]["disconnected"]:
            return records[-1]
        await asyncio.sleep(0.02)
    raise AssertionError(f"the simulator did not see the client go away: {records}")


async def test_the_suite_end_to_end(suite: LocalSuite) -> None:
    token = suite.demo_token()
    auth = [("authorization", f"Bearer {token}")]

    # Every gRPC service reports SERVING, for "" and for its own name; the shim is live and ready.
    for name, service in GRPC_SERVICES.items():
        for service_name in ("", service):
            status = await _grpc_health(suite.grpc_ports[name], service_name)
            assert status == health_pb2.HealthCheckResponse.SERVING, (name, service_name)
    async with httpx.AsyncClient(base_url=suite.rest_url, timeout=10) as http:
        assert (await http.get("/monitoring/healthz")).status_code == 200
        assert (await http.get("/monitoring/ready")).status_code == 200

        # A streamed completion over REST: the text is exactly what the simulator produced.
        await _clear_records(suite.simulator_url)
        body = {
            "current_file": {
                "file_name": "fib.py",
                "content_above_cursor": "def fib(n):\n    ",
                "content_below_cursor": "",
            },
            "stream": True,
        }
        started = time.perf_counter()
        async with http.stream(
            "POST",
            "/v2/code/completions",
            json=body,
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "e2e-rest-1"},
        ) as response:
            assert response.status_code == 200, await response.aread()
            assert response.headers["x-request-id"] == "e2e-rest-1"
            text = "".join([chunk async for chunk in response.aiter_text()])
        rest_latency = time.perf_counter() - started
        [record] = await _simulator_records(suite.simulator_url)
        assert text
        assert text == record["sent_text"]
        assert record["request_id"] == "e2e-rest-1"
        assert record["completed"] is True
        # The same id is in each hop's own log file, on its access line.
        for service in ("rest_shim", "router_svc", "model_proxy_svc"):
            log_file = suite.data_dir / "logs" / f"{service}.log"
            await eventually(partial(_logged_with_id, log_file, "e2e-rest-1"), timeout_s=10)
        # Every process serves Prometheus metrics on its own port.
        for service, port in suite.metrics_ports.items():
            metrics = await http.get(f"http://127.0.0.1:{port}/metrics")
            assert metrics.status_code == 200, service
            assert "grpc_server_handled_total" in metrics.text or service == "rest_shim"
        router_metrics = await http.get(
            f"http://127.0.0.1:{suite.metrics_ports['router_svc']}/metrics"
        )
        assert 'model_inferences_total{feature="code_completions"' in router_metrics.text
        print(f"REST streamed completion: {rest_latency * 1000:.1f} ms")

        # Direct to the simulator, for comparison in the test log.
        started = time.perf_counter()
        async with http.stream(
            "POST",
            f"{suite.simulator_url}/v1/completions",
            json={"model": "aigw-simulator", "prompt": "x", "stream": True, "max_tokens": 64},
        ) as direct:
            async for _ in direct.aiter_bytes():
                pass
        print(f"direct streamed completion: {(time.perf_counter() - started) * 1000:.1f} ms")

        # A bad token: 401 {"error": ...} over REST.
        bad = await http.post(
            "/v2/code/completions", json=body, headers={"Authorization": "Bearer not-a-jwt"}
        )
        assert bad.status_code == 401
        assert "error" in bad.json()

    async with grpc.aio.insecure_channel(f"127.0.0.1:{suite.grpc_ports['router_svc']}") as ch:
        router = router_service_pb2_grpc.RouterServiceStub(ch)

        # The same over gRPC.
        await _clear_records(suite.simulator_url)
        chunks = [c async for c in router.StreamComplete(_completion(), metadata=auth, timeout=10)]
        [record] = await _simulator_records(suite.simulator_url)
        assert "".join(c.text for c in chunks) == record["sent_text"]
        assert chunks[0].served_by.model == "demo-codestral"
        assert chunks[-1].finish_reason != 0
        assert chunks[-1].usage.output_tokens > 0

        # A bad token: UNAUTHENTICATED.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await router.Complete(
                router_service_pb2.CompleteRequest(completion=_completion().completion),
                metadata=[("authorization", "Bearer not-a-jwt")],
                timeout=10,
            )
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED

        # A feature turned off (the demo serves every feature): a clear FAILED_PRECONDITION,
        # not INTERNAL.
        await suite.aigw("features", "set", "duo_chat", "--disable")
        await asyncio.sleep(1.0)  # a change reaches the router within a second
        chat_token = (await suite.aigw("token", "issue", "--scopes", "duo_chat")).strip()
        chat = router_service_pb2.CompleteRequest(
            completion=router_service_pb2.Completion(feature="duo_chat", prompt="hello")
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await router.Complete(
                chat, metadata=[("authorization", f"Bearer {chat_token}")], timeout=10
            )
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "duo_chat" in (caught.value.details() or "")

        # Cancel a stream midway: a slow simulator serves code_generations through the CLI's
        # configuration, and must see its connection closed within 1 s of the cancel.
        slow_port = free_ports(1)[0]
        slow_url = f"http://127.0.0.1:{slow_port}"
        slow = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "aigw_cli",
            "simulator",
            "--port",
            str(slow_port),
            "--tokens",
            "2000",
            "--tokens-per-second",
            "50",
            env=suite.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await _wait_until_up(f"{slow_url}/health")
            await suite.aigw(
                "models",
                "add",
                "slow",
                "--family",
                "mistral",
                "--platform",
                "openai_compatible",
                "--endpoint",
                f"{slow_url}/v1",
                "--identifier",
                "aigw-simulator",
            )
            await suite.aigw("features", "set", "code_generations", "slow")
            await asyncio.sleep(1.0)  # a change reaches the router within a second
            call = router.StreamComplete(_completion("code_generations"), metadata=auth)
            received = 0
            async for _ in call:
                received += 1
                if received == 3:
                    break
            call.cancel()
            cancelled_at = time.time()
            record = await _wait_for_disconnect(slow_url, 1.0)
            assert float(record["ended_at"]) - cancelled_at < 1.0  # type: ignore[arg-type]
        finally:
            slow.terminate()
            await slow.wait()

    # Restart config_svc (killed hard; the supervisor restarts it): the configuration stays.
    os.kill(suite.pid_of("config_svc"), signal.SIGKILL)
    await asyncio.sleep(0.2)
    await _wait_until_serving(suite.grpc_ports["config_svc"])
    reader = (await suite.aigw("token", "issue", "--scopes", "aigw_config_read")).strip()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{suite.grpc_ports['config_svc']}") as ch:
        config = config_service_pb2_grpc.ConfigServiceStub(ch)
        models = await config.ListModels(
            config_service_pb2.ListModelsRequest(),
            metadata=[("authorization", f"Bearer {reader}")],
            timeout=5,
        )
        # config_svc admits only tokens with its scopes (services, readers, administrators).
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await config.ListModels(config_service_pb2.ListModelsRequest(), timeout=5)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert {m.name for m in models.models} == {"demo-codestral", "demo-chat", "slow"}

    # Stopping `aigw up` stops every child.
    pids = [suite.pid_of(name) for name in (*GRPC_SERVICES, "rest_shim")]
    suite.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(suite.process.wait(), 30) == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


async def _wait_until_up(url: str) -> None:
    async with httpx.AsyncClient(timeout=1) as client:
        for _ in range(100):
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never answered")


async def _wait_until_serving(port: int) -> None:
    for _ in range(100):
        try:
            if await _grpc_health(port, "") == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.aio.AioRpcError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"127.0.0.1:{port} never became SERVING")
