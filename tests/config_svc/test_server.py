from __future__ import annotations

import asyncio
import os
import signal
import socket
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aigw.config.v1 import config_service_pb2
from aigw_common.settings import ConfigServiceSettings, Settings
from config_svc.server import SERVICE_NAME, serve
from tests.auth_support import running_auth_svc
from tests.config_svc.support import feature_request, model_request, running_service

_API_KEY = "sk-restart-secret"


async def test_restart_keeps_models_features_version_and_sealing_key(settings: Settings) -> None:
    async with running_service(settings) as first:
        created = await first.stub.CreateModel(model_request("a", api_key=_API_KEY))
        await first.stub.SetFeatureSetting(feature_request("duo_chat", "a"))
        watch = first.stub.WatchConfig(config_service_pb2.WatchConfigRequest())
        before = await asyncio.wait_for(watch.read(), 1.0)
        watch.cancel()

    async with running_service(settings) as second:
        watch = second.stub.WatchConfig(config_service_pb2.WatchConfigRequest())
        after = await asyncio.wait_for(watch.read(), 1.0)
        watch.cancel()
        listed = await second.stub.ListModels(config_service_pb2.ListModelsRequest())
        next_change = await second.stub.CreateModel(model_request("b"))

    assert isinstance(before, config_service_pb2.WatchConfigResponse)
    assert isinstance(after, config_service_pb2.WatchConfigResponse)
    assert after.snapshot == before.snapshot
    assert after.snapshot.version == created.version + 1
    assert [s.feature for s in after.snapshot.feature_settings] == ["duo_chat"]
    assert second.box.open(listed.models[0].target.sealed_api_key) == _API_KEY
    assert next_change.version == after.snapshot.version + 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_serve_creates_its_files_reports_serving_and_stops_on_sigterm(
    settings: Settings,
) -> None:
    port = _free_port()
    assert not settings.sealing_key_path.exists()
    default_sigterm = signal.getsignal(signal.SIGTERM)
    # config_svc reports SERVING once it holds auth_svc's keys (it must verify tokens).
    async with running_auth_svc(settings) as auth:
        settings = auth.settings.model_copy(
            update={"config_svc": ConfigServiceSettings(port=port, grace_period_s=0.1)}
        )
        server = asyncio.create_task(serve(settings))
        await _serves_then_stops_on_sigterm(settings, port, server, default_sigterm)


async def _serves_then_stops_on_sigterm(
    settings: Settings, port: int, server: asyncio.Task[None], default_sigterm: Any
) -> None:
    try:
        # Retry the connection quickly while serve() is still starting.
        fast_retry = [
            ("grpc.initial_reconnect_backoff_ms", 20),
            ("grpc.min_reconnect_backoff_ms", 20),
            ("grpc.max_reconnect_backoff_ms", 100),
        ]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=fast_retry) as channel:
            # The grpc_health stubs declare no methods on HealthStub.
            health: Any = health_pb2_grpc.HealthStub(channel)
            response = await health.Check(
                health_pb2.HealthCheckRequest(service=SERVICE_NAME),
                timeout=5.0,
                wait_for_ready=True,
            )
            assert response.status == health_pb2.HealthCheckResponse.SERVING
        assert settings.sealing_key_path.stat().st_mode & 0o777 == 0o600
        assert (settings.config_db_path).exists()
        # SIGTERM only once serve's handler is installed, or it would end the test run. No
        # event says so, hence the polling.
        async with asyncio.timeout(5.0):
            while signal.getsignal(signal.SIGTERM) == default_sigterm:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(server, 5.0)
    finally:
        server.cancel()
