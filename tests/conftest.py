"""Shared fixtures: settings built in code (never from the real environment) on free ports, and
a scan of every log line the run produced for secrets."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from aigw_common.log_setup import configure_logging
from aigw_common.settings import (
    AuthServiceSettings,
    ConfigServiceSettings,
    LoggingSettings,
    ModelProxySettings,
    RouterSettings,
    Settings,
)
from tests import backing_services, leak_scan

RUN_LOG = "aigw-test-run.log"
_SENTINEL = "log scan sentinel"


@pytest.fixture(scope="session", autouse=True)
def _no_secret_in_any_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Route every log line of the run (structlog and stdlib) through the services' own logging
    set-up into one file, at DEBUG; at the end, fail the run if that file or any service log
    written under the run's temporary directory holds a token, key or credential."""
    base = tmp_path_factory.getbasetemp()
    run_log = base / RUN_LOG
    root = logging.getLogger()
    kept = list(root.handlers)  # pytest's own capture handlers stay in place
    configure_logging(LoggingSettings(level="DEBUG", to_file=run_log), "tests")
    root.handlers.extend(handler for handler in kept if handler not in root.handlers)
    # Tests that use structlog.testing.capture_logs need loggers that are not cached.
    structlog.configure(cache_logger_on_first_use=False)
    # gRPC logs every event loop it meets at DEBUG: noise that holds nothing of ours.
    logging.getLogger("grpc").setLevel(logging.INFO)
    structlog.get_logger("tests").info(_SENTINEL, via="structlog")
    logging.getLogger("tests").warning("%s via stdlib", _SENTINEL)
    yield
    for handler in root.handlers:
        handler.flush()
    text = run_log.read_text(errors="replace")
    if text.count(_SENTINEL) < 2:
        pytest.fail(f"the log scan saw no log output in {run_log}: logging is not captured")
    logs = [run_log, *(path for path in base.rglob("*.log") if path != run_log)]
    findings = leak_scan.scan(logs, leak_scan.secrets_in_files(base))
    if findings:
        listing = "\n".join(str(finding) for finding in findings[:50])
        pytest.fail(f"secrets in log output ({len(findings)} lines):\n{listing}")


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
        router=RouterSettings(port=0, grace_period_s=0.5),
        auth_svc=AuthServiceSettings(port=0, grace_period_s=0.5),
        config_svc=ConfigServiceSettings(port=0, grace_period_s=0.5),
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


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a private, empty PostgreSQL database for this test."""
    with backing_services.private_postgres_database() as url:
        yield url


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A Redis key prefix private to this test (keys removed afterwards)."""
    with backing_services.private_redis_prefix() as prefix:
        yield prefix
