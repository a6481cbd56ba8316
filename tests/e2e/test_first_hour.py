"""A new user's first hour, as the README tells it: `make run` in one terminal (its state in
./.aigw), `aigw ...` typed in a second one, the README's OpenAI SDK example against the demo,
the configuration exported and applied back, and the suite started again."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from pathlib import Path

import pytest
from openai import AsyncOpenAI

from aigw_cli.local_suite import LocalSuite, local_suite
from aigw_common.catalog import FEATURES

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

MODEL_KEY = "sk-first-hour-model-key"


async def _typed(
    suite: LocalSuite, *args: str, cwd: Path, home: Path, extra: dict[str, str] | None = None
) -> tuple[int, str]:
    """`aigw ARGS` typed in a second terminal in `cwd`: the suite's ports, but no AIGW_DATA_DIR
    (the Makefile sets it only for `make run` itself)."""
    env = {k: v for k, v in suite.env.items() if k != "AIGW_DATA_DIR"}
    env.update(HOME=str(home), **(extra or {}))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aigw_cli",
        *args,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, output.decode()


def _loose_files(root: Path) -> list[str]:
    """Everything under `root` that anyone but its owner may read, write or enter."""
    loose = []
    for path in [root, *root.rglob("*")]:
        if stat.S_IMODE(path.lstat().st_mode) & 0o077:
            loose.append(f"{path.relative_to(root)} {oct(stat.S_IMODE(path.lstat().st_mode))}")
    return loose


async def test_the_first_hour(tmp_path: Path) -> None:
    repo, home, elsewhere = tmp_path / "repo", tmp_path / "home", tmp_path / "elsewhere"
    for directory in (repo, home, elsewhere):
        directory.mkdir()
    data_dir = repo / ".aigw"
    default_data_dir = home / ".local" / "share" / "aigw"
    old_umask = os.umask(0o022)  # a usual shell's: files world-readable unless aigw says not
    try:
        async with local_suite(data_dir) as suite:
            # A second terminal in the repository reaches the running suite.
            status, listed = await _typed(suite, "features", "list", cwd=repo, home=home)
            assert status == 0, listed
            assert "demo-codestral" in listed
            # Every feature is served: code by the codestral demo model, chat by the chat one.
            for feature in FEATURES.values():
                assert feature.name in listed
            assert "demo-chat" in listed

            # Anywhere else it says where the credential is expected, and invents none.
            status, refused = await _typed(suite, "features", "list", cwd=elsewhere, home=home)
            assert status == 1
            assert "no admin credential at" in refused
            assert "AIGW_DATA_DIR" in refused
            assert not default_data_dir.exists()

            # The README's OpenAI SDK example, verbatim, with the demo's printed token.
            text = ""
            token = suite.demo_token()
            async with AsyncOpenAI(base_url=f"{suite.rest_url}/v1", api_key=token) as client:
                async for chunk in await client.chat.completions.create(
                    model="feature:duo_chat",
                    messages=[{"role": "user", "content": "hi"}],
                    stream=True,
                ):
                    text += chunk.choices[0].delta.content or ""
            assert text.strip()

            # A model added with --api-key-env survives export then apply unchanged.
            key_env = {"VLLM_API_KEY": MODEL_KEY}
            status, added = await _typed(
                suite,
                *("models", "add", "codestral", "--family", "codestral"),
                *("--platform", "openai_compatible", "--endpoint", f"{suite.simulator_url}/v1"),
                *("--identifier", "aigw-simulator", "--api-key-env", "VLLM_API_KEY"),
                cwd=repo,
                home=home,
                extra=key_env,
            )
            assert status == 0, added
            exported_file = repo / "aigw.yaml"
            status, exported = await _typed(
                suite, "config", "export", "-o", str(exported_file), cwd=repo, home=home
            )
            assert status == 0, exported
            assert "api_key_env: VLLM_API_KEY" in exported_file.read_text()
            status, applied = await _typed(
                suite,
                "config",
                "apply",
                "-f",
                str(exported_file),
                cwd=repo,
                home=home,
                extra=key_env,
            )
            assert status == 0, applied
            assert "nothing to change" in applied

            # The user's own setting, which a restart must keep.
            status, _ = await _typed(
                suite, "features", "set", "code_completions", "codestral", cwd=repo, home=home
            )
            assert status == 0
            status, _ = await _typed(
                suite, "features", "set", "duo_chat", "--disable", cwd=repo, home=home
            )
            assert status == 0

            # Everything in the data directory is the owner's alone, the database included.
            assert (data_dir / "config.sqlite3").exists()
            assert _loose_files(data_dir) == []

        async with local_suite(data_dir) as again:
            status, listed = await _typed(again, "features", "list", cwd=repo, home=home)
        assert status == 0, listed
        rows = {line.split()[0]: line.split()[1:] for line in listed.splitlines()[1:]}
        assert rows["code_completions"] == ["codestral"]
        assert rows["duo_chat"] == ["disabled"]
        assert rows["code_generations"] == ["demo-codestral"]
        assert _loose_files(data_dir) == []
    finally:
        os.umask(old_umask)
