"""Every `aigw` command the README shows, typed as it shows it, against a running suite (`aigw up
--demo` on free ports): what each prints and what it changes. `aigw doctor` has its own file
(test_doctor.py), key rotation is exercised under traffic in test_auth_e2e.py."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import sys
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import httpx
import pytest

from aigw_cli.local_suite import LocalSuite, free_ports, local_suite

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

KEYS = {"VLLM_API_KEY": "sk-vllm", "AZURE_OPENAI_API_KEY": "az-key", "ANTHROPIC_API_KEY": "sk-a"}


@pytest.fixture
async def suite(tmp_path: Path) -> AsyncIterator[LocalSuite]:
    async with local_suite(tmp_path / "aigw", env=KEYS) as running:
        yield running


async def _aigw(
    *args: str, env: dict[str, str] | None = None, stdin: bytes = b""
) -> tuple[int, str]:
    """Exit status and everything printed, without a terminal."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aigw_cli",
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(stdin), 60)
    assert process.returncode is not None
    return process.returncode, output.decode()


def _table(output: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:] for line in output.splitlines()[1:] if line.strip()}


async def test_using_your_own_models(suite: LocalSuite) -> None:
    run = partial(_aigw, env=suite.env)
    vllm = f"{suite.simulator_url}/v1"

    status, out = await run(
        "models", "discover", "--endpoint", vllm, "--api-key-env", "VLLM_API_KEY"
    )
    assert (status, out.split()) == (0, ["aigw-simulator"])

    status, out = await run(
        *("models", "add", "codestral", "--family", "codestral", "--platform"),
        *("openai_compatible", "--endpoint", vllm, "--identifier", "aigw-simulator"),
        *("--api-key-env", "VLLM_API_KEY", "--timeout-s", "30", "--connect-timeout-s", "2"),
        *("--first-token-timeout-s", "10", "--idle-timeout-s", "10", "--max-retries", "1"),
        *("--max-output-tokens", "256", "--max-concurrent-requests", "8"),
    )
    assert status == 0, out
    assert "model codestral added" in out
    # The Providers section's lines, one per platform.
    for line in (
        ("gpt-4o", "--family", "gpt", "--platform", "azure_openai", "--endpoint",
         "https://my-resource.openai.azure.com", "--identifier", "my-gpt4o-deployment",
         "--azure-api-version", "2024-10-21", "--api-key-env", "AZURE_OPENAI_API_KEY"),
        ("claude-bedrock", "--family", "claude_3", "--platform", "bedrock", "--identifier",
         "us.anthropic.claude-3-5-sonnet-20240620-v1:0", "--region", "us-east-1"),
        ("claude", "--family", "claude_3", "--platform", "anthropic", "--endpoint",
         "https://api.anthropic.com", "--identifier", "claude-3-5-sonnet-20241022",
         "--api-key-env", "ANTHROPIC_API_KEY"),
    ):  # fmt: skip
        status, out = await run("models", "add", *line)
        assert status == 0, out

    status, out = await run("features", "set", "code_completions", "codestral")
    assert status == 0, out
    status, out = await run("features", "set", "duo_chat", "--disable")
    assert status == 0, out

    status, out = await run("models", "list")
    models = _table(out)
    assert set(models) == {
        "demo-codestral",
        "demo-chat",
        "codestral",
        "gpt-4o",
        "claude-bedrock",
        "claude",
    }
    assert models["codestral"] == ["codestral", "openai_compatible", vllm, "aigw-simulator", "set"]
    assert models["claude-bedrock"][-1] == "-"
    status, out = await run("features", "list")
    features = _table(out)
    assert features["code_completions"] == ["codestral"]
    assert features["duo_chat"] == ["disabled"]

    status, out = await run("models", "remove", "codestral")
    assert status == 1
    assert "code_completions" in out  # refused while a feature uses it
    status, out = await run("models", "remove", "gpt-4o")
    assert (status, "model gpt-4o removed" in out) == (0, True)

    status, out = await run("models", "check", "codestral")
    assert status == 0, out
    assert "model codestral OK in" in out
    status, out = await run("models", "check", "claude-bedrock")
    assert status == 1
    assert "model claude-bedrock FAILED after" in out


async def test_the_configuration_as_a_file(suite: LocalSuite, tmp_path: Path) -> None:
    run = partial(_aigw, env=suite.env)
    path = tmp_path / "aigw.yaml"
    path.write_text(
        f"""
models:
  codestral:
    family: codestral
    platform: openai_compatible
    endpoint: {suite.simulator_url}/v1
    identifier: aigw-simulator
    api_key_env: VLLM_API_KEY
    timeout_s: 30
features:
  code_completions: codestral
  duo_chat: [codestral]
"""
    )

    # Without a terminal and without --yes it shows the changes and applies nothing.
    status, out = await run("config", "apply", "-f", str(path))
    assert status == 1
    assert "+ add model codestral" in out
    assert "no terminal to confirm on; pass --yes" in out
    status, out = await run("config", "apply", "-f", str(path), "--dry-run")
    assert (status, "+ add model codestral" in out) == (0, True)
    assert "applied" not in out
    status, out = await run("config", "apply", "-f", str(path), "--yes")
    assert status == 0, out
    assert "applied" in out

    exported = tmp_path / "exported.yaml"
    status, out = await run("config", "export", "-o", str(exported))
    assert (status, f"written to {exported}" in out) == (0, True)
    status, out = await run("config", "export")
    assert out == exported.read_text()
    assert "api_key_env: VLLM_API_KEY" in out
    assert KEYS["VLLM_API_KEY"] not in out
    status, out = await run("config", "apply", "-f", "-", stdin=exported.read_bytes())
    assert "nothing to change" in out

    status, out = await run("config", "audit", "--limit", "20")
    assert status == 0
    assert "ApplyConfig" in out
    assert "add model codestral" in out
    status, out = await run("config", "audit", "--limit", "1")
    assert sum(1 for line in out.splitlines() if not line.startswith(" ")) == 1


async def test_tokens_keys_health_and_logging(suite: LocalSuite) -> None:
    run = partial(_aigw, env=suite.env)

    status, token = await run(
        "token", "issue", "--scopes", "complete_code,generate_code", "--subject", "alice",
        "--ttl-s", "600",
    )  # fmt: skip
    assert status == 0, token
    payload = token.strip().split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] == "alice"
    assert claims["scopes"] == ["complete_code", "generate_code"]
    assert claims["exp"] - claims["iat"] == 600

    status, out = await run("keys", "list")
    assert status == 0
    assert "active" in out
    # The suite's first key set is seconds old, and auth_svc refuses a rotation until every
    # router can have seen the keys (10 s): the README's command, retried until then.
    status, out = await run("keys", "rotate")
    for _ in range(15):
        if status == 0 or "rotate again" not in out:
            break
        await asyncio.sleep(1)
        status, out = await run("keys", "rotate")
    assert (status, "signing with" in out) == (0, True), out

    for service in ("router_svc", "auth_svc", "config_svc", "model_proxy_svc"):
        status, out = await run("health", suite.address(service))
        assert (status, out.strip()) == (0, "SERVING")
    status, out = await run("health", f"127.0.0.1:{free_ports(1)[0]}")
    assert status == 1

    status, out = await run("logging", "request-logging", "status")
    assert (status, "switch): off" in out) == (0, True)
    status, out = await run("logging", "request-logging", "on")
    assert "request logging on" in out
    status, out = await run("logging", "request-logging", "off")
    assert "request logging off" in out


async def test_help_lists_every_command() -> None:
    status, out = await _aigw("--help")

    assert status == 0
    for command in ("up", "simulator", "health", "token", "keys", "models", "features", "config",
                    "doctor", "logging"):  # fmt: skip
        assert command in out


async def test_the_simulator_command() -> None:
    [port] = free_ports(1)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aigw_cli", "simulator", "--port", str(port), "--tokens", "4",
        "--tokens-per-second", "0", "--first-token-delay-ms", "0", "--model", "my-model",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            async with asyncio.timeout(30):
                while True:
                    try:
                        if (await http.get("/health")).status_code == 200:
                            break
                    except httpx.TransportError:
                        await asyncio.sleep(0.1)
            models = (await http.get("/v1/models")).json()
            answer = await http.post(
                "/v1/completions", json={"model": "my-model", "prompt": "def f():"}
            )
        assert [model["id"] for model in models["data"]] == ["my-model"]
        assert answer.json()["usage"]["completion_tokens"] == 4
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
