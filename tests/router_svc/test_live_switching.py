"""Several routers follow one config_svc: a change reaches every one within a second, without a
restart, and survives config_svc restarting under them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc
import pytest

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2, config_service_pb2_grpc
from aigw.router.v1 import router_service_pb2, router_service_pb2_grpc
from aigw_cli.local_suite import free_ports
from aigw_common import scopes
from aigw_common.interceptors.service_auth import ServiceAuth
from aigw_common.settings import ConfigServiceSettings, RouterSettings, Settings
from aigw_common.token_verifier import TokenVerifier
from aigw_simulator import BackgroundSimulator, SimulatorConfig
from auth_svc.tokens import TokenIssuer
from config_svc import server as config_server
from model_proxy_svc import server as proxy_server
from model_proxy_svc.clients import HttpClients
from router_svc import server as router_server
from router_svc.config_cache import ConfigCache
from tests.auth_support import authorized_channel, bearer, issuer_for, service_channel
from tests.polling import eventually

if TYPE_CHECKING:
    from aigw.config.v1.config_service_pb2_grpc import ConfigServiceAsyncStub
    from aigw.router.v1.router_service_pb2_grpc import RouterServiceAsyncStub

ROUTERS = 3
COMPLETION = router_service_pb2.CompleteRequest(
    completion=router_service_pb2.Completion(
        feature="code_completions",
        code=router_service_pb2.CodeContext(file_name="a.py", content_above_cursor="def f():\n"),
    )
)


@dataclass
class Fleet:
    routers: list[RouterServiceAsyncStub]
    caches: list[ConfigCache]
    issuer: TokenIssuer
    config_port: int


@asynccontextmanager
async def _config_service(settings: Settings, verifier: TokenVerifier) -> AsyncIterator[int]:
    store = await config_server.open_store(settings)
    box = await config_server.open_secrets_box(settings)
    server, port = await config_server.build_server(
        settings, store=store, box=box, auth=ServiceAuth(verifier)
    )
    await server.start()
    try:
        yield port
    finally:
        await server.stop(None)
        await store.close()


@pytest.fixture
def fixed_port_settings(settings: Settings) -> Settings:
    # A fixed config_svc port, so a restarted config_svc is found where the routers look.
    [port] = free_ports(1)
    return settings.model_copy(update={"config_svc": ConfigServiceSettings(port=port)})


async def _served_by(fleet: Fleet, index: int) -> str:
    response = await fleet.routers[index].Complete(
        COMPLETION, metadata=bearer(fleet.issuer, "complete_code"), timeout=5
    )
    return response.served_by.model


async def _set(admin: ConfigServiceAsyncStub, model: str) -> int:
    response = await admin.SetFeatureSetting(
        config_service_pb2.SetFeatureSettingRequest(
            feature_setting=config_service_pb2.FeatureSetting(
                feature="code_completions", models=[model]
            )
        ),
        timeout=5,
    )
    return response.version


async def test_every_router_applies_a_change_within_a_second(
    fixed_port_settings: Settings,
) -> None:
    settings = fixed_port_settings
    keys, issuer = issuer_for(settings)
    verifier = TokenVerifier(keys, settings.auth)
    async with AsyncExitStack() as stack:
        simulators = [
            stack.enter_context(BackgroundSimulator(SimulatorConfig(tokens=2))) for _ in range(2)
        ]
        first_config = _config_service(settings, verifier)
        config_port = await first_config.__aenter__()
        stack.push_async_exit(first_config)
        clients = HttpClients(settings.model_proxy)
        stack.push_async_callback(clients.aclose)
        box = await config_server.open_secrets_box(settings)
        proxy, proxy_port = await proxy_server.build_server(
            settings, clients=clients, secrets=box, auth=ServiceAuth(verifier)
        )
        await proxy.start()
        stack.push_async_callback(proxy.stop, None)
        admin_channel = authorized_channel(f"127.0.0.1:{config_port}", issuer, scopes.ADMIN)
        stack.push_async_callback(admin_channel.close)
        admin: ConfigServiceAsyncStub = config_service_pb2_grpc.ConfigServiceStub(admin_channel)
        for name, simulator in zip(("model-a", "model-b"), simulators, strict=True):
            await admin.CreateModel(
                config_service_pb2.CreateModelRequest(
                    model=config_service_pb2.Model(
                        name=name,
                        family="codestral",
                        target=common_pb2.ModelTarget(
                            platform=common_pb2.PLATFORM_OPENAI_COMPATIBLE,
                            endpoint=simulator.endpoint,
                            identifier="aigw-simulator",
                        ),
                    )
                ),
                timeout=5,
            )
        await _set(admin, "model-a")

        fleet = Fleet([], [], issuer, config_port)
        for _ in range(ROUTERS):
            # Each router sends its service token, as router_svc's serve() wires it.
            config_channel = service_channel(settings.config_svc.address, issuer)
            proxy_channel = service_channel(f"127.0.0.1:{proxy_port}", issuer)
            cache = ConfigCache(config_channel)
            cache.start()
            stack.push_async_callback(config_channel.close)
            stack.push_async_callback(proxy_channel.close)
            stack.push_async_callback(cache.close)
            router, port = await router_server.build_server(
                settings.model_copy(update={"router": RouterSettings(port=0)}),
                config=cache,
                verifier=verifier,
                proxy_channel=proxy_channel,
            )
            await router.start()
            stack.push_async_callback(router.stop, None)
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
            stack.push_async_callback(channel.close)
            fleet.routers.append(router_service_pb2_grpc.RouterServiceStub(channel))
            fleet.caches.append(cache)
        await eventually(lambda: all(c.ready.is_set() for c in fleet.caches), timeout_s=5)
        assert [await _served_by(fleet, i) for i in range(ROUTERS)] == ["model-a"] * ROUTERS

        # Switch: every router serves the new model within a second, no restart.
        started = time.monotonic()
        version = await _set(admin, "model-b")
        await eventually(lambda: all(c.version >= version for c in fleet.caches), timeout_s=1.0)
        applied_s = time.monotonic() - started
        assert [await _served_by(fleet, i) for i in range(ROUTERS)] == ["model-b"] * ROUTERS
        print(f"{ROUTERS} routers applied the change in {applied_s * 1000:.0f} ms")

        # config_svc goes away: the routers keep serving their last configuration...
        await first_config.__aexit__(None, None, None)
        assert [await _served_by(fleet, i) for i in range(ROUTERS)] == ["model-b"] * ROUTERS
        # ...and when it is back (same database), they resume from the version they hold and
        # follow the next change.
        async with _config_service(settings, verifier):
            version = await _set(admin, "model-a")
            await eventually(lambda: all(c.version >= version for c in fleet.caches), timeout_s=5.0)
            assert [await _served_by(fleet, i) for i in range(ROUTERS)] == ["model-a"] * ROUTERS
            assert {c.version for c in fleet.caches} == {version}
