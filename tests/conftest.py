"""Shared fixtures: settings built in code (never from the real environment) on free ports."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aigw_common.settings import GrpcServiceSettings, ModelProxySettings, Settings


@pytest.fixture(autouse=True)
def _no_aigw_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AIGW_"):
            monkeypatch.delenv(name)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for in-process servers: a temporary data dir, every port 0 (pick a free one)."""
    return Settings(
        environment="development",
        data_dir=tmp_path / "data",
        router=GrpcServiceSettings(port=0, grace_period_s=0.5),
        auth_svc=GrpcServiceSettings(port=0, grace_period_s=0.5),
        config_svc=GrpcServiceSettings(port=0, grace_period_s=0.5),
        model_proxy=ModelProxySettings(port=0, grace_period_s=0.5),
    )
