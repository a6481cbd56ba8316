"""Two replicas of every service behind HAProxy, on a real PostgreSQL: what N replicas promise.

Run with `make test-replicas` (HAProxy installed by scripts/install-test-balancer). Figures are
printed (`-s`) and written to <tmp>/replica-figures.json.
"""

from __future__ import annotations

import asyncio
import json
import signal
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
import jwt
import psycopg
import pytest
import pytest_asyncio
import redis.asyncio as redis
from pydantic import SecretStr

from aigw.auth.v1 import auth_service_pb2
from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2
from aigw.router.v1 import router_service_pb2, router_service_pb2_grpc
from aigw_cli import admin
from aigw_common.settings import (
    AuthServiceSettings,
    AuthSettings,
    ConfigServiceSettings,
    Settings,
)
from aigw_simulator import SimulatorConfig
from aigw_simulator.serving import BackgroundSimulator
from tests.backing_services import private_postgres_database
from tests.polling import until
from tests.replicas.cluster import Cluster, running_cluster

pytestmark = [
    pytest.mark.replicas,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(240),
]

COMPLETION = router_service_pb2.CompleteRequest(
    completion=router_service_pb2.Completion(
        feature="code_completions",
        code=router_service_pb2.CodeContext(file_name="a.py", content_above_cursor="def f():\n"),
    )
)
STREAM_BODY = {
    "current_file": {
        "file_name": "fib.py",
        "content_above_cursor": "def fib(n):\n    ",
        "content_below_cursor": "",
    },
    "stream": True,
}
LOAD = 16
LIMIT = 4
PROXY_SERVICE = "aigw.modelproxy.v1.ModelProxyService"


@dataclass
class Fleet:
    cluster: Cluster
    base: Path
    database_url: str
    figures: dict[str, object] = field(default_factory=dict)

    def settings(self, *, auth: int | None = None, config: int | None = None) -> Settings:
        """Admin settings reaching every auth/config replica, or only the one named."""
        cluster = self.cluster

        def target(service: str, index: int | None) -> str:
            if index is None:
                return cluster.target(service)
            return "{}:{}".format(*cluster.planned[service][index])

        return Settings(
            environment="production",
            data_dir=self.base / "admin",
            auth=AuthSettings(admin_credential=SecretStr(cluster.admin_credential)),
            auth_svc=AuthServiceSettings(target=target("auth_svc", auth)),
            config_svc=ConfigServiceSettings(target=target("config_svc", config)),
        )

    async def token(self, *, auth: int | None = None) -> str:
        issued = await admin.issue_token(
            self.settings(auth=auth), "replica-test", ["complete_code"], 3600
        )
        return issued.token

    async def use(self, model: str, *, config: int = 0) -> None:
        await admin.set_feature(
            self.settings(config=config), "code_completions", [model], disabled=False
        )


def _model(name: str, endpoint: str, *, max_concurrent: int = 0) -> config_service_pb2.Model:
    return config_service_pb2.Model(
        name=name,
        family="codestral",
        target=common_pb2.ModelTarget(
            name=name,
            family="codestral",
            platform=common_pb2.PLATFORM_OPENAI_COMPATIBLE,
            endpoint=endpoint,
            identifier="aigw-simulator",
            limits=common_pb2.ModelLimits(max_concurrent_requests=max_concurrent),
        ),
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fleet(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Fleet]:
    base = tmp_path_factory.mktemp("replicas")
    with (
        private_postgres_database() as database_url,
        BackgroundSimulator(SimulatorConfig(tokens=2)) as fast,
        # A 2 s stream: long enough to be cut or drained mid-way.
        BackgroundSimulator(SimulatorConfig(tokens=40, tokens_per_second=20)) as slow,
    ):
        async with running_cluster(base, database_url, fast.endpoint) as cluster:
            fleet = Fleet(cluster, base, database_url)
            settings = fleet.settings(config=0)
            for model in (
                _model("model-a", fast.endpoint),
                _model("model-b", fast.endpoint),
                _model("model-slow", slow.endpoint),
                _model("model-limited", slow.endpoint, max_concurrent=LIMIT),
            ):
                await admin.create_model(settings, model, api_key="")
            await fleet.use("model-a")
            yield fleet
            (base / "replica-figures.json").write_text(json.dumps(fleet.figures, indent=2))
            print("\nreplica test figures:", json.dumps(fleet.figures, indent=2))


async def _served_by(address: str, token: str) -> str:
    async with grpc.aio.insecure_channel(address) as channel:
        # Generous: a 2 s stream on a machine shared with other test runs.
        response = await router_service_pb2_grpc.RouterServiceStub(channel).Complete(
            COMPLETION, metadata=[("authorization", f"Bearer {token}")], timeout=20
        )
    return response.served_by.model


async def _until_served_by(address: str, token: str, model: str, started: float) -> float:
    async def switched() -> bool:
        return await _served_by(address, token) == model

    await until(switched, timeout_s=10, interval_s=0.005)
    return time.perf_counter() - started


async def test_a_change_through_either_config_svc_reaches_every_router_within_a_second(
    fleet: Fleet,
) -> None:
    token = await fleet.token()
    routers = [replica.address for replica in fleet.cluster.of("router_svc")]
    for router in routers:
        assert await _served_by(router, token) == "model-a"
    delays: list[float] = []
    for via, model in ((1, "model-b"), (0, "model-a"), (1, "model-b"), (0, "model-a")):
        await fleet.use(model, config=via)
        started = time.perf_counter()
        delays += await asyncio.gather(
            *(_until_served_by(router, token, model, started) for router in routers)
        )

    fleet.figures["config_propagation_ms"] = {
        "max": round(max(delays) * 1000, 1),
        "median": round(statistics.median(delays) * 1000, 1),
        "samples": len(delays),
    }
    assert max(delays) < 1.0, delays


async def test_a_rotation_through_either_auth_svc_verifies_on_every_router(fleet: Fleet) -> None:
    routers = [replica.address for replica in fleet.cluster.of("router_svc")]
    reloads: list[float] = []
    fleet.figures["key_reload_on_other_auth_svc_ms"] = reloads
    for rotating, other in ((1, 0), (0, 1)):
        new_kid, token, reload_s = await _rotate_then_sign(fleet, rotating, other)
        reloads.append(round(reload_s * 1000, 1))
        for router in routers:
            assert await _served_by(router, token) == "model-a"
        own = await fleet.token(auth=rotating)
        assert jwt.get_unverified_header(own)["kid"] == new_kid
        for router in routers:
            assert await _served_by(router, own) == "model-a"


async def _rotate_then_sign(fleet: Fleet, rotating: int, other: int) -> tuple[str, str, float]:
    """Rotate through one auth_svc, then ask the other for tokens until it signs with the new
    key: the new key's kid, that token, and how long the other took to reload."""
    rotated = await until(lambda: _rotate(fleet, rotating), timeout_s=30, interval_s=1)
    new_kid = rotated.active_key.kid
    started = time.perf_counter()

    async def other_signs_with_new_key() -> str | None:
        token = await fleet.token(auth=other)
        return token if jwt.get_unverified_header(token)["kid"] == new_kid else None

    token = await until(other_signs_with_new_key, timeout_s=5, interval_s=0.01)
    return new_kid, token, time.perf_counter() - started


async def _rotate(fleet: Fleet, via: int) -> auth_service_pb2.RotateKeysResponse | None:
    """Rotate through one auth_svc; None while the last rotation is under 10 s old (every router
    must have seen a key before it signs)."""
    try:
        return await admin.rotate_keys(fleet.settings(auth=via))
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.FAILED_PRECONDITION:
            raise
        return None


async def _stream(http: httpx.AsyncClient, token: str) -> str:
    """One streamed completion through HAProxy and a shim: its text, or the error's name."""
    try:
        async with http.stream(
            "POST",
            "/v2/code/completions",
            json=STREAM_BODY,
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            if response.status_code != 200:
                return f"HTTP {response.status_code}"
            return "".join([chunk async for chunk in response.aiter_text()])
    except httpx.HTTPError as error:
        return type(error).__name__


async def _load(fleet: Fleet, count: int, *, spread_s: float = 0.0) -> list[str]:
    token = await fleet.token()
    async with httpx.AsyncClient(base_url=fleet.cluster.http_front, timeout=30) as http:

        async def one(index: int) -> str:
            await asyncio.sleep(spread_s * index / count)
            return await _stream(http, token)

        return await asyncio.gather(*(one(index) for index in range(count)))


async def test_sigterm_on_a_router_under_load_loses_nothing(fleet: Fleet) -> None:
    await _switch_to(fleet, "model-slow")
    (expected,) = await _load(fleet, 1)
    assert len(expected) > 20, expected
    router = fleet.cluster.of("router_svc")[0]

    load = asyncio.create_task(_load(fleet, LOAD, spread_s=3.0))
    await asyncio.sleep(1.0)
    assert await fleet.cluster.stop(router, signal.SIGTERM) == 0
    results = await load

    lost = [result for result in results if result != expected]
    fleet.figures["router_sigterm"] = {"requests": len(results), "lost": len(lost)}
    assert lost == []
    fleet.cluster.replicas.remove(router)
    await fleet.cluster.start("router_svc", 0)


async def test_killing_a_proxy_fails_only_its_streams_and_new_ones_succeed(fleet: Fleet) -> None:
    (expected,) = await _load(fleet, 1)
    proxy = fleet.cluster.of("model_proxy_svc")[0]

    load = asyncio.create_task(_load(fleet, LOAD))
    await asyncio.sleep(1.0)
    in_flight_on_killed = await fleet.cluster.metric(
        proxy, "grpc_server_in_flight", grpc_service=PROXY_SERVICE
    )
    await fleet.cluster.stop(proxy, signal.SIGKILL)
    results = await load
    afterwards = await _load(fleet, LOAD)

    failed = [result for result in results if result != expected]
    fleet.figures["proxy_kill"] = {
        "streams": len(results),
        "held_by_killed_proxy": int(in_flight_on_killed),
        "failed": len(failed),
        "new_after_kill": len(afterwards),
        "new_failed": sum(result != expected for result in afterwards),
    }
    assert len(failed) <= in_flight_on_killed
    assert all(result == expected for result in afterwards)
    fleet.cluster.replicas.remove(proxy)
    await fleet.cluster.start("model_proxy_svc", 0)


async def _admitted(fleet: Fleet, count: int) -> tuple[int, list[grpc.StatusCode]]:
    """`count` completions at once, spread over both routers: how many were served, and the
    codes of those refused."""
    token = await fleet.token()
    routers = [replica.address for replica in fleet.cluster.of("router_svc")]

    async def one(index: int) -> grpc.StatusCode:
        try:
            model = await _served_by(routers[index % len(routers)], token)
        except grpc.aio.AioRpcError as error:
            return error.code()
        assert model == "model-limited"
        return grpc.StatusCode.OK

    codes = await asyncio.gather(*(one(index) for index in range(count)))
    return codes.count(grpc.StatusCode.OK), [code for code in codes if code != grpc.StatusCode.OK]


async def _no_leases(fleet: Fleet, model: str) -> bool:
    """Whether no slot of `model` is held: every lease released, or expired (a release that
    timed out on a loaded machine is taken back by expiry)."""
    client = redis.Redis.from_url(fleet.cluster.redis_url)
    try:
        seconds, micros = await client.time()
        now_ms = seconds * 1000 + micros // 1000
        held = await client.zcount(f"aigw:leases:{model}", f"({now_ms}", "+inf")
    finally:
        await client.aclose()
    return held == 0


async def _switch_to(fleet: Fleet, model: str) -> None:
    """Point code_completions at `model` and wait until every router serves with it."""
    await fleet.use(model)
    token = await fleet.token()
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _until_served_by(router.address, token, model, started)
            for router in fleet.cluster.of("router_svc")
        )
    )


async def test_a_model_limit_of_four_admits_exactly_four_across_two_proxies(fleet: Fleet) -> None:
    await _switch_to(fleet, "model-limited")
    rounds = []
    for _ in range(3):
        await until(lambda: _no_leases(fleet, "model-limited"), timeout_s=10)
        rounds.append(await _admitted(fleet, 3 * LIMIT))
    token = await fleet.token()
    async with httpx.AsyncClient(base_url=fleet.cluster.http_front, timeout=30) as http:
        answers = await asyncio.gather(*(_post(http, token) for _ in range(3 * LIMIT)))

    fleet.figures["model_limit"] = {
        "limit": LIMIT,
        "admitted_per_round": [admitted for admitted, _ in rounds],
        "rest_429_with_retry_after": sum(
            status == 429 and retry_after == "1" for status, retry_after in answers
        ),
    }
    for admitted, refused in rounds:
        assert (admitted, set(refused)) == (LIMIT, {grpc.StatusCode.RESOURCE_EXHAUSTED})
    assert sum(status == 200 for status, _ in answers) == LIMIT
    assert all(retry_after == "1" for status, retry_after in answers if status == 429)
    assert sum(status == 429 for status, _ in answers) == 2 * LIMIT


async def _post(http: httpx.AsyncClient, token: str) -> tuple[int, str | None]:
    response = await http.post(
        "/v2/code/completions",
        json={**STREAM_BODY, "stream": False},
        headers={"Authorization": f"Bearer {token}"},
    )
    return response.status_code, response.headers.get("retry-after")


async def test_without_redis_limits_fall_back_to_each_proxy_as_configured(fleet: Fleet) -> None:
    await _switch_to(fleet, "model-limited")
    proxies = fleet.cluster.of("model_proxy_svc")[:2]
    assert fleet.cluster.redis is not None
    fleet.cluster.redis.kill()
    await fleet.cluster.redis.wait()

    admitted, refused = await _admitted(fleet, 3 * LIMIT)
    failures = [
        await fleet.cluster.metric(proxy, "aigw_limit_store_failures_total", outcome="admitted")
        for proxy in proxies
    ]

    fleet.figures["redis_down_fail_open"] = {"admitted": admitted, "store_failures": failures}
    # Fail-open (the default): each proxy admits up to the limit by its own count.
    assert LIMIT <= admitted <= 2 * LIMIT
    assert set(refused) <= {grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert sum(failures) >= admitted


async def test_a_new_proxy_replica_gets_traffic(fleet: Fleet) -> None:
    await _switch_to(fleet, "model-a")
    newcomer = await fleet.cluster.start("model_proxy_svc", 2)
    started = time.perf_counter()
    token = await fleet.token()
    routers = [replica.address for replica in fleet.cluster.of("router_svc")]
    async with asyncio.timeout(20):
        while not await fleet.cluster.metric(
            newcomer, "grpc_server_handled_total", grpc_service=PROXY_SERVICE
        ):
            await asyncio.gather(*(_served_by(router, token) for router in routers * 5))
    fleet.figures["new_proxy_first_call_s"] = round(time.perf_counter() - started, 2)


async def test_without_postgresql_routers_keep_serving_and_writes_fail_clearly(
    fleet: Fleet,
) -> None:
    name = fleet.database_url.rpartition("/")[2]
    admin_url = fleet.database_url.rpartition("/")[0] + "/postgres"
    token = await fleet.token()
    routers = [replica.address for replica in fleet.cluster.of("router_svc")]
    with psycopg.connect(admin_url, autocommit=True) as pg:
        pg.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        pg.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        try:
            for router in routers:
                assert await _served_by(router, token) == "model-a"
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await fleet.use("model-b")
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "AIGW_DATABASE__URL" in (refused.value.details() or "")
            # Still serving, a little later too (polls failed meanwhile).
            await asyncio.sleep(2.5)
            for router in routers:
                assert await _served_by(router, token) == "model-a"
        finally:
            pg.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    await fleet.use("model-b")
    started = time.perf_counter()
    await asyncio.gather(
        *(_until_served_by(router, token, "model-b", started) for router in routers)
    )
