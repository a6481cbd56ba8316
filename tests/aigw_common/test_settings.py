from __future__ import annotations

import pytest

from aigw_common.settings import Settings


def test_setting_one_field_of_a_service_keeps_its_other_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIGW_ROUTER__REFLECTION", "true")
    monkeypatch.setenv("AIGW_AUTH_SVC__GRACE_PERIOD_S", "3")
    monkeypatch.setenv("AIGW_CONFIG_SVC__BIND", "0.0.0.0")
    monkeypatch.setenv("AIGW_MODEL_PROXY__MAX_RETRIES", "1")

    settings = Settings()

    assert (settings.router.port, settings.router.reflection) == (50051, True)
    assert (settings.auth_svc.port, settings.auth_svc.grace_period_s) == (50052, 3.0)
    assert settings.config_svc.listen_address == "0.0.0.0:50053"
    assert (settings.model_proxy.port, settings.model_proxy.max_retries) == (50054, 1)


def test_turning_authentication_off_is_refused_in_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIGW_AUTH__BYPASS_EXTERNAL", "true")
    with pytest.raises(ValueError, match="refused with AIGW_ENVIRONMENT=production"):
        Settings()
    monkeypatch.setenv("AIGW_ENVIRONMENT", "development")
    assert Settings().auth.bypass_external
