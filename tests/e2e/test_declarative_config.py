"""One file puts Codestral on completions, Mixtral on chat and a Claude-family model on
generation; `aigw config apply` makes it so and each feature is then served by its model.

Each model is a simulator standing in for its endpoint. The Claude-family model runs on the
openai_compatible platform here: the Bedrock platform is another piece of work.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from aigw.router.v1 import router_service_pb2, router_service_pb2_grpc
from aigw_cli.local_suite import LocalSuite, local_suite
from aigw_simulator import BackgroundSimulator, SimulatorConfig
from tests.router_svc.conftest import generations

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

CLAUDE_KEY = "sk-claude-test-key"


@pytest.fixture
def simulators() -> Iterator[dict[str, BackgroundSimulator]]:
    configs = {
        "codestral": SimulatorConfig(tokens=3, model="mistralai/Codestral-22B-v0.1"),
        "mixtral": SimulatorConfig(tokens=3, model="mistralai/Mixtral-8x7B-Instruct-v0.1"),
        "claude": SimulatorConfig(
            tokens=3, model="anthropic.claude-3-5-sonnet-20240620-v1:0", api_key=CLAUDE_KEY
        ),
    }
    running = {name: BackgroundSimulator(config) for name, config in configs.items()}
    for simulator in running.values():
        simulator.start()
    try:
        yield running
    finally:
        for simulator in running.values():
            simulator.stop()


@pytest.fixture
async def suite(tmp_path: Path) -> AsyncIterator[LocalSuite]:
    async with local_suite(tmp_path / "aigw", env={"CLAUDE_KEY": CLAUDE_KEY}) as running:
        yield running


def _file(simulators: dict[str, BackgroundSimulator]) -> str:
    return f"""
models:
  codestral:
    family: codestral
    platform: openai_compatible
    endpoint: {simulators["codestral"].endpoint}
    identifier: mistralai/Codestral-22B-v0.1
  mixtral:
    family: mixtral
    platform: openai_compatible
    endpoint: {simulators["mixtral"].endpoint}
    identifier: mistralai/Mixtral-8x7B-Instruct-v0.1
  claude:
    family: claude_3
    platform: openai_compatible
    endpoint: {simulators["claude"].endpoint}
    identifier: anthropic.claude-3-5-sonnet-20240620-v1:0
    api_key_env: CLAUDE_KEY
    timeout_s: 30
features:
  code_completions: codestral
  duo_chat: mixtral
  code_generations: claude
"""


async def _aigw(suite: LocalSuite, *args: str) -> tuple[int, str]:
    """Exit status and everything printed, with no terminal on stdin."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aigw_cli",
        *args,
        env=suite.env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def _served_by(suite: LocalSuite, completion: router_service_pb2.Completion) -> str:
    scopes = "complete_code,generate_code,duo_chat"
    token = (await suite.aigw("token", "issue", "--scopes", scopes)).strip()
    async with grpc.aio.insecure_channel(suite.address("router_svc")) as channel:
        response = await router_service_pb2_grpc.RouterServiceStub(channel).Complete(
            router_service_pb2.CompleteRequest(completion=completion),
            metadata=[("authorization", f"Bearer {token}")],
            timeout=10,
        )
    return response.served_by.model


async def test_one_file_assigns_three_models_and_each_serves_its_feature(
    suite: LocalSuite, simulators: dict[str, BackgroundSimulator], tmp_path: Path
) -> None:
    path = tmp_path / "aigw.yaml"
    path.write_text(_file(simulators))

    # Without a terminal and without --yes: the changes are shown, nothing is applied.
    status, output = await _aigw(suite, "config", "apply", "-f", str(path))
    assert status == 1
    assert "+ add model claude" in output
    assert "- remove model demo-codestral" in output
    assert "no terminal to confirm on; pass --yes" in output

    applied = await suite.aigw("config", "apply", "-f", str(path), "--yes")
    # The demo had duo_chat on its chat model: the file moves it, and unassigns the others.
    assert "~ update feature duo_chat" in applied
    assert "- remove model demo-chat" in applied
    assert "applied " in applied

    code = router_service_pb2.CodeContext(file_name="a.py", content_above_cursor="def f():\n    ")
    chat = router_service_pb2.Conversation()
    chat.messages.add(role=2, content="hello")
    # Each feature reaches its model (a change reaches the router within a second).
    await asyncio.sleep(1.0)
    assert (
        await _served_by(
            suite, router_service_pb2.Completion(feature="code_completions", code=code)
        )
        == "codestral"
    )
    assert (
        await _served_by(suite, router_service_pb2.Completion(feature="duo_chat", chat=chat))
        == "mixtral"
    )
    assert (
        await _served_by(
            suite, router_service_pb2.Completion(feature="code_generations", code=code)
        )
        == "claude"
    )
    for name, path_suffix in (
        ("codestral", "/v1/completions"),
        ("mixtral", "/v1/chat/completions"),
        ("claude", "/v1/chat/completions"),
    ):
        [record] = generations(simulators[name])
        assert record["path"] == path_suffix, name
    [claude] = generations(simulators["claude"])
    assert claude["authorization_present"] is True

    # Export writes the file back: the key only by reference; applying it changes nothing.
    exported = await suite.aigw("config", "export")
    assert "api_key_env: CLAUDE_KEY" in exported
    assert CLAUDE_KEY not in exported
    (tmp_path / "exported.yaml").write_text(exported)
    again = await suite.aigw("config", "apply", "-f", str(tmp_path / "exported.yaml"))
    assert "nothing to change" in again

    # Discovery and checks.
    discovered = await suite.aigw(
        "models", "discover", "--endpoint", simulators["mixtral"].endpoint
    )
    assert discovered.split() == ["mistralai/Mixtral-8x7B-Instruct-v0.1"]
    checked = await suite.aigw("models", "check", "claude")
    assert "model claude OK in" in checked
    simulators["codestral"].stop()
    status, output = await _aigw(suite, "models", "check", "codestral")
    assert status == 1
    assert "model codestral FAILED after" in output
    assert "UNAVAILABLE" in output

    # The audit trail names who applied the file, and what it changed.
    history = await suite.aigw("config", "audit")
    assert "aigw-cli:" in history
    assert "ApplyConfig" in history
    assert "add model claude" in history
