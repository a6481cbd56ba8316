"""The authentication switch: off only for trials, refused in production, and loud when off."""

from __future__ import annotations

import asyncio
import signal
import socket

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from aigw_common.settings import RouterSettings, Settings
from router_svc.authentication import AUTH_BYPASS_WARNING
from router_svc.server import serve
from tests.polling import eventually


def test_bypass_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIGW_AUTH__BYPASS_EXTERNAL", "true")
    with pytest.raises(ValidationError, match="refused with AIGW_ENVIRONMENT=production"):
        Settings()
    monkeypatch.setenv("AIGW_ENVIRONMENT", "development")
    assert Settings().auth.bypass_external


async def test_a_router_started_with_auth_off_warns_loudly(settings: Settings) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    bypass = settings.model_copy(
        update={
            "auth": settings.auth.model_copy(update={"bypass_external": True}),
            "router": RouterSettings(port=port, grace_period_s=0.1),
        }
    )
    default_handler = signal.getsignal(signal.SIGTERM)
    with capture_logs() as logs:
        task = asyncio.create_task(serve(bypass))
        # Stop it once it handles SIGTERM (the warning comes before anything else).
        await eventually(
            lambda: signal.getsignal(signal.SIGTERM) is not default_handler, timeout_s=5
        )
        signal.raise_signal(signal.SIGTERM)
        await asyncio.wait_for(task, timeout=5)

    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert warnings[0]["event"] == AUTH_BYPASS_WARNING
    assert "AUTHENTICATION IS OFF" in AUTH_BYPASS_WARNING
    assert "AIGW_AUTH__BYPASS_EXTERNAL=true" in AUTH_BYPASS_WARNING
