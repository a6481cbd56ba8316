"""The whole authenticated path in-process, wired as each service's `serve()` wires it.

auth_svc (real keys, trusting a GitLab-like OIDC issuer), config_svc and model_proxy_svc that
admit only service tokens, the router verifying with keys it fetched from auth_svc and from the
issuer's OIDC discovery, sending its own service token downstream, and the REST shim in front:
every hop speaks its real protocol over real sockets; the simulator stands in for the model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import httpx

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2, config_service_pb2_grpc
from aigw.router.v1 import router_service_pb2, router_service_pb2_grpc
from aigw_common import scopes
from aigw_common.channels import open_channel
from aigw_common.interceptors.service_auth import ServiceAuth
from aigw_common.internal_auth import auth_svc_keys, service_token
from aigw_common.oidc import GitLabIssuers
from aigw_common.service_token import service_token_interceptors
from aigw_common.settings import (
    AuthServiceSettings,
    AuthSettings,
    ConfigServiceSettings,
    ModelProxySettings,
    RouterSettings,
    Settings,
)
from aigw_common.token_verifier import JwksCache, TokenVerifier
from aigw_simulator import BackgroundSimulator, SimulatorConfig
from config_svc import server as config_server
from model_proxy_svc import server as proxy_server
from model_proxy_svc.clients import HttpClients
from rest_shim.app import build_app
from router_svc import server as router_server
from router_svc.config_cache import ConfigCache
from tests.auth_support import RunningAuthSvc, running_auth_svc
from tests.oidc_issuer import GitLabLikeIssuer, running_issuer
from tests.polling import eventually

if TYPE_CHECKING:
    from aigw.router.v1.router_service_pb2_grpc import RouterServiceAsyncStub

FEATURES = ("code_completions", "code_generations")


@dataclass
class SecureStack:
    settings: Settings
    auth: RunningAuthSvc
    gitlab: GitLabLikeIssuer
    router: RouterServiceAsyncStub
    router_keys: JwksCache
    shim: httpx.AsyncClient
    simulator: BackgroundSimulator
    proxy_port: int
    config_port: int

    def aigw_token(self, *scopes: str, subject: str = "ide-user", ttl_s: int = 300) -> str:
        return self.auth.token(*scopes, subject=subject, ttl_s=ttl_s)


def base_settings(data_dir: Path, *, bypass: bool = False) -> Settings:
    return Settings(
        environment="development",
        data_dir=data_dir,
        auth=AuthSettings(bypass_external=bypass),
        router=RouterSettings(port=0, grace_period_s=0.5),
        auth_svc=AuthServiceSettings(port=0, grace_period_s=0.5),
        config_svc=ConfigServiceSettings(port=0, grace_period_s=0.5),
        model_proxy=ModelProxySettings(port=0, grace_period_s=0.5),
    )


@asynccontextmanager
async def secure_stack(data_dir: Path, *, bypass: bool = False) -> AsyncIterator[SecureStack]:
    """The stack; with `bypass`, callers are not authenticated (AIGW_AUTH__BYPASS_EXTERNAL)."""
    async with AsyncExitStack() as stack:
        simulator = stack.enter_context(BackgroundSimulator(SimulatorConfig(tokens=4)))
        gitlab = await stack.enter_async_context(running_issuer())
        settings = base_settings(data_dir, bypass=bypass).model_copy(
            update={"gitlab_url": gitlab.url}
        )

        # auth_svc, trusting the GitLab issuer for user access tokens.
        auth_trust = GitLabIssuers(settings)
        stack.push_async_callback(auth_trust.close)
        await auth_trust.start()
        auth = await stack.enter_async_context(
            running_auth_svc(settings, trusted=auth_trust.trusted)
        )
        settings = auth.settings

        # config_svc and model_proxy_svc, admitting only service (and admin) tokens, verified
        # with the keys each fetched from auth_svc.
        store = await config_server.open_store(settings)
        stack.push_async_callback(store.close)
        box = await config_server.open_secrets_box(settings)
        config_keys = await stack.enter_async_context(auth_svc_keys(settings))
        proxy_keys = await stack.enter_async_context(auth_svc_keys(settings))
        config, config_port = await config_server.build_server(
            settings,
            store=store,
            box=box,
            auth=ServiceAuth(TokenVerifier(config_keys, settings.auth)),
        )
        clients = HttpClients(settings.model_proxy)
        stack.push_async_callback(clients.aclose)
        proxy, proxy_port = await proxy_server.build_server(
            settings,
            clients=clients,
            secrets=box,
            auth=ServiceAuth(TokenVerifier(proxy_keys, settings.auth)),
        )
        for server in (config, proxy):
            await server.start()
            stack.push_async_callback(server.stop, None)
        settings = settings.model_copy(
            update={
                "config_svc": ConfigServiceSettings(port=config_port),
                "model_proxy": ModelProxySettings(port=proxy_port),
            }
        )

        # The router, wired as router_svc.server.serve() wires it.
        keys = await stack.enter_async_context(auth_svc_keys(settings))
        router_trust = GitLabIssuers(settings)
        stack.push_async_callback(router_trust.close)
        token = await stack.enter_async_context(service_token(settings, "router_svc"))
        internal = service_token_interceptors(token)
        config_channel = open_channel(settings.config_svc.address, interceptors=internal)
        proxy_channel = open_channel(settings.model_proxy.address, interceptors=internal)
        for channel in (config_channel, proxy_channel):
            stack.push_async_callback(channel.close)
        cache = ConfigCache(config_channel)
        stack.push_async_callback(cache.close)
        await router_trust.start()
        cache.start()
        router, router_port = await router_server.build_server(
            settings,
            config=cache,
            verifier=TokenVerifier(keys, settings.auth, trusted=router_trust.trusted),
            proxy_channel=proxy_channel,
        )
        await router.start()
        stack.push_async_callback(router.stop, None)

        await _configure(auth, config_port, simulator.endpoint, cache)

        router_client = grpc.aio.insecure_channel(f"127.0.0.1:{router_port}")
        shim_auth = grpc.aio.insecure_channel(settings.auth_svc.address)
        for channel in (router_client, shim_auth):
            stack.push_async_callback(channel.close)
        app = build_app(settings, router_client, shim_auth)
        shim = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shim")
        )
        yield SecureStack(
            settings=settings,
            auth=auth,
            gitlab=gitlab,
            router=router_service_pb2_grpc.RouterServiceStub(router_client),
            router_keys=keys,
            shim=shim,
            simulator=simulator,
            proxy_port=proxy_port,
            config_port=config_port,
        )


async def _configure(
    auth: RunningAuthSvc, config_port: int, endpoint: str, cache: ConfigCache
) -> None:
    """The simulator as the model for the code features, set by an administrator."""
    admin = [("authorization", f"Bearer {auth.token(scopes.ADMIN, subject='aigw-cli:tester')}")]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{config_port}") as channel:
        config = config_service_pb2_grpc.ConfigServiceStub(channel)
        target = common_pb2.ModelTarget(
            platform=common_pb2.PLATFORM_OPENAI_COMPATIBLE,
            endpoint=endpoint,
            identifier="aigw-simulator",
        )
        await config.CreateModel(
            config_service_pb2.CreateModelRequest(
                model=config_service_pb2.Model(name="sim", family="codestral", target=target)
            ),
            metadata=admin,
            timeout=5,
        )
        version = 0
        for feature in FEATURES:
            response = await config.SetFeatureSetting(
                config_service_pb2.SetFeatureSettingRequest(
                    feature_setting=config_service_pb2.FeatureSetting(
                        feature=feature, models=["sim"]
                    )
                ),
                metadata=admin,
                timeout=5,
            )
            version = response.version
    await eventually(lambda: cache.version >= version, timeout_s=5)


def completion_request() -> router_service_pb2.CompleteRequest:
    return router_service_pb2.CompleteRequest(
        completion=router_service_pb2.Completion(
            feature="code_completions",
            code=router_service_pb2.CodeContext(
                file_name="add.py", content_above_cursor="def add(a, b):\n    "
            ),
        )
    )


COMPLETION_BODY = {
    "current_file": {
        "file_name": "add.py",
        "content_above_cursor": "def add(a, b):\n    ",
        "content_below_cursor": "",
    }
}


async def grpc_outcome(
    stack: SecureStack, metadata: list[tuple[str, str]]
) -> tuple[grpc.StatusCode, str]:
    """The router's answer to a completion with `metadata`: (OK, text) or (code, details)."""
    try:
        response = await stack.router.Complete(completion_request(), metadata=metadata, timeout=10)
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details() or ""
    return grpc.StatusCode.OK, response.text


async def rest_outcome(
    stack: SecureStack, headers: dict[str, str], path: str = "/v2/code/completions"
) -> tuple[int, dict[str, object]]:
    response = await stack.shim.post(path, json=COMPLETION_BODY, headers=headers, timeout=10)
    body: dict[str, object] = response.json()
    return response.status_code, body
