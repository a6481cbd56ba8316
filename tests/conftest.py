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


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy AWS keys for boto3, and nothing from this machine's AWS setup (files, instance
    metadata, region, endpoints), for tests that talk to the Bedrock simulator."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDAIGWTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aigw-test-secret")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
