"""`aigw doctor`'s first section: settings in effect (secrets masked) and contradictions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aigw_cli.main import main

SECRET = "admin-credential-value-1234"


def _doctor(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, dict[str, str]]]:
    # The services are not running: only the settings section matters here.
    with pytest.raises(SystemExit) as exited:
        main(["doctor", "--json", "--timeout-s", "1"])
    document = json.loads(capsys.readouterr().out)
    checks = {f"{c['section']}/{c['name']}": c for c in document["checks"]}
    return int(exited.value.code or 0), checks


def test_values_in_effect_are_listed_with_secrets_masked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("AIGW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AIGW_AUTH__ADMIN_CREDENTIAL", SECRET)
    monkeypatch.setenv("AIGW_LOGGING__LEVEL", "DEBUG")
    code, checks = _doctor(capsys)
    shown = checks["settings/in effect"]["detail"]
    assert "AIGW_LOGGING__LEVEL=DEBUG" in shown
    assert "AIGW_AUTH__ADMIN_CREDENTIAL=(set, hidden)" in shown
    assert SECRET not in json.dumps(checks)
    assert checks["settings/contradictions"]["status"] == "pass"
    assert code == 1  # nothing runs, so the services fail
    assert checks["services/router_svc gRPC health"]["status"] == "fail"


def test_bypass_in_production_is_a_failed_check_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AIGW_AUTH__BYPASS_EXTERNAL", "true")
    monkeypatch.setenv("AIGW_AUTH__ADMIN_CREDENTIAL", SECRET)
    code, checks = _doctor(capsys)
    assert code == 1
    assert list(checks) == ["settings/settings load"]
    assert "AIGW_AUTH__BYPASS_EXTERNAL=true" in checks["settings/settings load"]["detail"]
    assert SECRET not in json.dumps(checks)


def test_clashing_ports_missing_files_and_risky_switches_are_reported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("AIGW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AIGW_ROUTER__PORT", "9000")
    monkeypatch.setenv("AIGW_METRICS__ROUTER_PORT", "9000")
    monkeypatch.setenv("AIGW_TLS__CA_FILE", str(tmp_path / "missing-ca.pem"))
    monkeypatch.setenv("AIGW_LOGGING__ENABLE_REQUEST_LOGGING", "true")
    _, checks = _doctor(capsys)
    assert (
        "AIGW_ROUTER__PORT and AIGW_METRICS__ROUTER_PORT are both 9000"
        in (checks["settings/ports"]["detail"])
    )
    assert checks["settings/AIGW_TLS__CA_FILE"]["status"] == "fail"
    assert checks["settings/expanded logging"]["status"] == "warn"
    assert "settings/contradictions" not in checks
