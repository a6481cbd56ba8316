"""`aigw doctor` against a running suite: every check passes, then fails for the right reason
when a credential is wrong, a service is stopped, an endpoint is broken or an identifier is
not served."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from aigw_cli.local_suite import LocalSuite, free_ports, local_suite

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


@pytest.fixture
async def suite(tmp_path: Path) -> AsyncIterator[LocalSuite]:
    async with local_suite(tmp_path / "aigw") as running:
        yield running


async def _doctor(suite: LocalSuite, *args: str, **env: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aigw_cli",
        "doctor",
        "--timeout-s",
        "5",
        *args,
        env={**suite.env, **env},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def _checks(suite: LocalSuite, *args: str, **env: str) -> tuple[int, dict[str, Any]]:
    code, output = await _doctor(suite, "--json", *args, **env)
    document = json.loads(output)
    return code, {f"{c['section']}/{c['name']}": c for c in document["checks"]}


def _failed(checks: dict[str, Any]) -> set[str]:
    return {key for key, check in checks.items() if check["status"] == "fail"}


async def test_every_check_passes_on_a_healthy_suite_and_prints_no_secret(
    suite: LocalSuite,
) -> None:
    code, output = await _doctor(suite)
    assert code == 0, output
    for line in (
        "PASS  router_svc gRPC health",
        "PASS  rest_shim /monitoring/ready",
        "PASS  token round trip",
        "PASS  code_completions: demo-codestral (codestral: approved)",
        "PASS  model demo-codestral identifier",
        "PASS  model demo-codestral answers",
        "PASS  outlier ejection",
        "SKIP  GitLab OIDC discovery",
    ):
        assert line in output, output
    assert "PASS  code_generations:" in output
    admin_credential = (suite.data_dir / "admin.token").read_text().strip()
    assert admin_credential not in output
    assert "eyJ" not in output  # no JWT

    code, checks = await _checks(suite)
    assert code == 0
    assert checks["completions/code_completions"]["status"] == "pass"
    assert " ms via demo-codestral" in checks["completions/code_completions"]["detail"]
    assert "AIGW_DATA_DIR=" in checks["settings/in effect"]["detail"]


async def test_a_wrong_admin_credential_fails_the_auth_round_trip(suite: LocalSuite) -> None:
    code, checks = await _checks(suite, AIGW_AUTH__ADMIN_CREDENTIAL="not-the-credential")
    assert code == 1
    assert checks["auth/token round trip"]["status"] == "fail"
    assert "UNAUTHENTICATED" in checks["auth/token round trip"]["detail"]
    assert "admin credential" in checks["auth/token round trip"]["fix"]
    assert "not-the-credential" not in json.dumps(checks)
    assert "(set, hidden)" in checks["settings/in effect"]["detail"]


async def test_a_stopped_service_fails_its_health_check_and_what_needs_it(
    suite: LocalSuite,
) -> None:
    pid = suite.pid_of("model_proxy_svc")
    os.kill(pid, signal.SIGSTOP)
    try:
        code, checks = await _checks(suite)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert code == 1
    assert _failed(checks) >= {
        "services/model_proxy_svc gRPC health",
        "models/model demo-codestral answers",
    }
    assert "services/router_svc gRPC health" not in _failed(checks)
    assert "auth/token round trip" not in _failed(checks)


async def test_a_broken_endpoint_and_an_identifier_not_served_fail_their_model(
    suite: LocalSuite,
) -> None:
    closed = free_ports(1)[0]
    await suite.aigw(
        *("models", "add", "broken", "--family", "mixtral", "--platform", "openai_compatible"),
        *("--endpoint", f"http://127.0.0.1:{closed}/v1", "--identifier", "mixtral"),
    )
    await suite.aigw(
        *("models", "add", "misnamed", "--family", "codestral", "--platform"),
        *("openai_compatible", "--endpoint", f"{suite.simulator_url}/v1"),
        *("--identifier", "not-served-here"),
    )
    await suite.aigw("features", "set", "duo_chat", "broken")
    code, checks = await _checks(suite)
    assert code == 1
    assert "UNAVAILABLE" in checks["models/model broken endpoint"]["detail"]
    identifier = checks["models/model misnamed identifier"]
    assert identifier["status"] == "fail"
    assert "does not serve 'not-served-here'; it serves: aigw-simulator" in identifier["detail"]
    assert checks["completions/duo_chat"]["status"] == "fail"
    assert checks["completions/code_completions"]["status"] == "pass"
    assert checks["models/model demo-codestral identifier"]["status"] == "pass"


async def test_the_ad_hoc_mode_checks_a_model_before_it_is_configured(
    suite: LocalSuite,
) -> None:
    model = ("--model-endpoint", f"{suite.simulator_url}/v1", "--model-family", "codestral")
    code, checks = await _checks(suite, *model, "--model-identifier", "aigw-simulator")
    assert code == 0, checks
    assert checks["models/model aigw-simulator answers"]["status"] == "pass"

    code, checks = await _checks(suite, *model, "--model-identifier", "nope")
    assert code == 1
    assert "does not serve 'nope'" in checks["models/model nope identifier"]["detail"]
