"""The REST shim's FastAPI app and its process entry point."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import structlog
import uvicorn
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from aigw_common.channels import open_channel
from aigw_common.errors import AigwError
from aigw_common.log_setup import configure_logging
from aigw_common.metrics import start_metrics_server
from aigw_common.settings import Settings
from aigw_common.tracing import configure_tracing
from rest_shim import errors as gitlab_errors
from rest_shim.access_log import AccessLogMiddleware
from rest_shim.admission import AdmissionMiddleware
from rest_shim.auth_client import AuthClient
from rest_shim.disconnect import CancelOnDisconnectMiddleware
from rest_shim.errors import install_error_handlers
from rest_shim.http_server import server_options
from rest_shim.middleware import CredentialSizeMiddleware, RequestIdMiddleware
from rest_shim.openai_compat import errors as openai_errors
from rest_shim.openai_compat import routes as openai_routes
from rest_shim.router_client import RouterClient
from rest_shim.routes import (
    chat_agent,
    chat_invokables,
    code_completions,
    code_generations,
    code_suggestions_v3,
    monitoring,
    prompts,
    user_access_token,
)
from rest_shim.streaming import install_aborted_stream_log_filter

_log = structlog.get_logger(__name__)


def build_app(
    settings: Settings,
    router_channel: grpc.aio.Channel | None = None,
    auth_channel: grpc.aio.Channel | None = None,
) -> FastAPI:
    """The shim's app. With `router_channel` (and `auth_channel`) it calls the router (and
    auth_svc) over those channels (the caller owns them); otherwise it opens them at start-up
    and closes them at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if router_channel is not None:
            yield
            return
        channel = open_channel(settings.router.address, tls=settings.tls)
        auth = open_channel(settings.auth_svc.address, tls=settings.tls)
        app.state.router = RouterClient(channel, settings.fastapi.request_timeout_s)
        app.state.auth = AuthClient(auth)
        _log.info("router channel opened", target=settings.router.address)
        try:
            yield
        finally:
            await channel.close()
            await auth.close()

    app = FastAPI(
        title="aigw REST shim",
        summary="GitLab AI gateway and OpenAI compatible REST APIs in front of aigw's router",
        lifespan=lifespan,
        docs_url=settings.fastapi.docs_url,
        openapi_url=settings.fastapi.openapi_url,
        redoc_url=None,
    )
    app.state.settings = settings
    install_aborted_stream_log_filter()
    if router_channel is not None:
        app.state.router = RouterClient(router_channel, settings.fastapi.request_timeout_s)
    if auth_channel is not None:
        app.state.auth = AuthClient(auth_channel)
    # Innermost first. Admission refuses from the head alone (connection headroom, credential,
    # size) before a body is read; CORS answers preflights (which carry no credential) first.
    app.add_middleware(CancelOnDisconnectMiddleware)
    app.add_middleware(
        AdmissionMiddleware,
        max_body_bytes=settings.fastapi.max_body_bytes,
        require_credential=not settings.auth.bypass_external,
        respond=_error_response,
    )
    # As GitLab's gateway: any origin may POST (IDE webviews call it directly).
    app.add_middleware(
        CORSMiddleware, allow_origins=["*"], allow_methods=["POST"], allow_headers=["*"]
    )
    app.add_middleware(
        CredentialSizeMiddleware,
        max_token_bytes=settings.auth.max_token_bytes,
        respond=_error_response,
    )
    app.add_middleware(AccessLogMiddleware)
    app.add_middleware(RequestIdMiddleware)
    install_error_handlers(app)
    # OpenAI's /v1/chat/completions before GitLab's /v1/chat/{chat_invokable}, which it matches.
    for module in (
        monitoring,
        openai_routes,
        code_completions,
        code_generations,
        chat_invokables,
        prompts,
        chat_agent,
        code_suggestions_v3,
        user_access_token,
    ):
        app.include_router(module.router)
    if settings.auth.bypass_external:
        _log.warning(monitoring.AUTH_BYPASS_WARNING)
    return app


_OPENAI_PATHS = frozenset(route.path for route in openai_routes.router.routes)  # type: ignore[attr-defined]


def _error_response(path: str, error: AigwError) -> JSONResponse:
    """`error` in the error shape of the API family `path` belongs to."""
    if path in _OPENAI_PATHS:
        return openai_errors.error_response(error)
    return gitlab_errors.error_response(error)


def main() -> None:
    """Serve the shim on AIGW_FASTAPI__API_HOST:AIGW_FASTAPI__API_PORT until signalled."""
    settings = Settings()
    configure_logging(settings.logging, "rest_shim")
    # FastAPI makes the HTTP server spans itself (continuing the caller's traceparent).
    configure_tracing(settings.tracing, "rest_shim")
    metrics_server = start_metrics_server(
        settings.fastapi.metrics_host, settings.fastapi.metrics_port, service="rest_shim"
    )
    try:
        uvicorn.run(
            build_app(settings),
            host=settings.fastapi.api_host,
            port=settings.fastapi.api_port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=settings.fastapi.grace_period_s,
            **server_options(settings.fastapi),
        )
    finally:
        metrics_server.close()
