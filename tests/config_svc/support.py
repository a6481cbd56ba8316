"""Helpers for config_svc tests: a running service and valid requests to alter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc
from grpc_health.v1 import health

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2, config_service_pb2_grpc
from aigw_common import scopes
from aigw_common.grpc_server import set_serving
from aigw_common.interceptors.service_auth import ServiceAuth
from aigw_common.secrets_box import SecretsBox
from aigw_common.settings import Settings
from aigw_common.token_verifier import TokenVerifier
from auth_svc.tokens import TokenIssuer
from config_svc.server import SERVICE_NAME, build_server, open_secrets_box, open_store
from tests.auth_support import authorized_channel, issuer_for

if TYPE_CHECKING:
    from aigw.config.v1.config_service_pb2_grpc import ConfigServiceAsyncStub


@dataclass
class RunningService:
    # Its calls carry an `aigw_admin` token for subject "tester" unless they bring their own.
    stub: ConfigServiceAsyncStub
    channel: grpc.aio.Channel
    box: SecretsBox
    port: int
    issuer: TokenIssuer


@asynccontextmanager
async def running_service(settings: Settings) -> AsyncIterator[RunningService]:
    """Start config_svc the way `serve` does, on `settings.data_dir`, checking tokens signed
    with auth_svc's key store; stop it on exit."""
    box = await open_secrets_box(settings)
    store = await open_store(settings)
    keys, issuer = issuer_for(settings)
    health_servicer = health.aio.HealthServicer()
    server, port = await build_server(
        settings,
        health_servicer,
        store=store,
        box=box,
        auth=ServiceAuth(TokenVerifier(keys, settings.auth)),
    )
    await server.start()
    await set_serving(health_servicer, [SERVICE_NAME], True)
    channel = authorized_channel(f"127.0.0.1:{port}", issuer, scopes.ADMIN)
    try:
        yield RunningService(
            stub=config_service_pb2_grpc.ConfigServiceStub(channel),
            channel=channel,
            box=box,
            port=port,
            issuer=issuer,
        )
    finally:
        await channel.close()
        await server.stop(None)
        await store.close()


def model_request(
    name: str = "codestral-22b", *, family: str = "codestral", api_key: str = ""
) -> config_service_pb2.CreateModelRequest:
    """A valid CreateModelRequest tests can alter."""
    return config_service_pb2.CreateModelRequest(
        model=config_service_pb2.Model(
            name=name,
            family=family,
            target=common_pb2.ModelTarget(
                platform=common_pb2.PLATFORM_OPENAI_COMPATIBLE,
                endpoint="http://vllm:8000/v1",
                identifier="mistralai/Codestral-22B-v0.1",
                limits=common_pb2.ModelLimits(max_output_tokens=512, max_concurrent_requests=8),
            ),
        ),
        api_key=api_key,
    )


def feature_request(
    feature: str, *models: str, disabled: bool = False
) -> config_service_pb2.SetFeatureSettingRequest:
    return config_service_pb2.SetFeatureSettingRequest(
        feature_setting=config_service_pb2.FeatureSetting(
            feature=feature, models=models, disabled=disabled
        )
    )
