"""The router on a real in-process stack: config_svc, model_proxy_svc and the simulator, each on
its own port, with tokens signed by auth_svc's key store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from grpc_health.v1 import health

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2, config_service_pb2_grpc
from aigw.router.v1 import router_service_pb2_grpc
from aigw_common import scopes
from aigw_common.grpc_server import set_serving
from aigw_common.interceptors.service_auth import ServiceAuth
from aigw_common.settings import Settings
from aigw_common.token_verifier import TokenVerifier
from aigw_simulator import BackgroundSimulator, SimulatorConfig
from auth_svc.keys import KeyStore
from auth_svc.tokens import TokenIssuer
from config_svc import server as config_server
from model_proxy_svc import server as proxy_server
from model_proxy_svc.clients import HttpClients
from router_svc import server as router_server
from router_svc.config_cache import ConfigCache
from router_svc.rate_limits import RateLimits
from tests.auth_support import authorized_channel, service_channel
from tests.polling import eventually

if TYPE_CHECKING:
    from aigw.config.v1.config_service_pb2_grpc import ConfigServiceAsyncStub
    from aigw.router.v1.router_service_pb2_grpc import RouterServiceAsyncStub

SIMULATED_TOKENS = 6


@dataclass
class Stack:
    router: RouterServiceAsyncStub
    config: ConfigServiceAsyncStub
    cache: ConfigCache
    simulator: BackgroundSimulator
    issuer: TokenIssuer
    router_port: int = 0

    def token(self, *scopes: str) -> str:
        """A five-minute token granting `scopes`, signed by auth_svc's key."""
        return self.issuer.issue("tester", list(scopes), timedelta(minutes=5)).token

    def metadata(self, *scopes: str) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.token(*scopes)}")]

    async def add_model(self, name: str, endpoint: str, family: str = "codestral") -> None:
        target = common_pb2.ModelTarget(
            platform=common_pb2.PLATFORM_OPENAI_COMPATIBLE,
            endpoint=endpoint,
            identifier="aigw-simulator",
        )
        await self.config.CreateModel(
            config_service_pb2.CreateModelRequest(
                model=config_service_pb2.Model(name=name, family=family, target=target)
            ),
            timeout=5,
        )

    async def assign(self, feature: str, *models: str, disabled: bool = False) -> None:
        response = await self.config.SetFeatureSetting(
            config_service_pb2.SetFeatureSettingRequest(
                feature_setting=config_service_pb2.FeatureSetting(
                    feature=feature, models=list(models), disabled=disabled
                )
            ),
            timeout=5,
        )
        # The router applies a change when the watch delivers it.
        await eventually(lambda: self.cache.version >= response.version)


def generations(simulator: BackgroundSimulator) -> list[dict[str, Any]]:
    """What the simulator was asked to generate, without the router's questions about the
    served context (GET /v1/models, once per model server)."""
    return [r for r in simulator.state.recorder.snapshot() if r["path"] != "/v1/models"]


@pytest.fixture
def simulator() -> Iterator[BackgroundSimulator]:
    with BackgroundSimulator(SimulatorConfig(tokens=SIMULATED_TOKENS)) as running:
        yield running


@asynccontextmanager
async def running_stack(settings: Settings, simulator: BackgroundSimulator) -> AsyncIterator[Stack]:
    """config_svc, model_proxy_svc and the router on free ports, in front of `simulator`."""
    keys = KeyStore.load_or_create(settings.data_dir, settings.auth.algorithm)
    store = await config_server.open_store(settings)
    box = await config_server.open_secrets_box(settings)
    verifier = TokenVerifier(keys, settings.auth)
    issuer = TokenIssuer(keys, settings.auth)
    config, config_port = await config_server.build_server(
        settings, store=store, box=box, auth=ServiceAuth(verifier)
    )
    clients = HttpClients(settings.model_proxy)
    proxy, proxy_port = await proxy_server.build_server(
        settings, clients=clients, secrets=box, auth=ServiceAuth(verifier)
    )
    await config.start()
    await proxy.start()

    # The router's channels carry its service token, as router_svc's serve() wires them.
    config_channel = service_channel(f"127.0.0.1:{config_port}", issuer)
    proxy_channel = service_channel(f"127.0.0.1:{proxy_port}", issuer)
    cache = ConfigCache(config_channel)
    cache.start()
    await asyncio.wait_for(cache.ready.wait(), 5)
    health_servicer = health.aio.HealthServicer()
    rate_limits = RateLimits(settings.rate_limits, settings.redis)
    router, router_port = await router_server.build_server(
        settings,
        health_servicer,
        config=cache,
        verifier=verifier,
        proxy_channel=proxy_channel,
        rate_limits=rate_limits,
    )
    await router.start()
    await set_serving(health_servicer, [router_server.SERVICE_NAME], serving=True)
    try:
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{router_port}") as router_channel,
            authorized_channel(f"127.0.0.1:{config_port}", issuer, scopes.ADMIN) as admin_channel,
        ):
            yield Stack(
                router=router_service_pb2_grpc.RouterServiceStub(router_channel),
                config=config_service_pb2_grpc.ConfigServiceStub(admin_channel),
                cache=cache,
                simulator=simulator,
                issuer=issuer,
                router_port=router_port,
            )
    finally:
        await router.stop(None)
        await rate_limits.aclose()
        await cache.close()
        await config_channel.close()
        await proxy_channel.close()
        await proxy.stop(None)
        await config.stop(None)
        await clients.aclose()
        await store.close()


@pytest.fixture
async def stack(settings: Settings, simulator: BackgroundSimulator) -> AsyncIterator[Stack]:
    async with running_stack(settings, simulator) as running:
        yield running
