"""Per-model timeouts, retries and platform options: validated, stored, returned, migrated."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2
from aigw_common.grpc_errors import from_rpc_error
from config_svc.store import ConfigStore
from tests.config_svc.support import model_request

if TYPE_CHECKING:
    from aigw.config.v1.config_service_pb2_grpc import ConfigServiceAsyncStub

Change = Callable[[config_service_pb2.CreateModelRequest], None]


def _bedrock(request: config_service_pb2.CreateModelRequest) -> None:
    target = request.model.target
    target.platform = common_pb2.PLATFORM_BEDROCK
    target.endpoint = ""
    target.identifier = "us.anthropic.claude-3-5-sonnet-20240620-v1:0"
    target.bedrock.region = "eu-central-1"
    request.model.family = "claude_3"


def _azure_options_on_vllm(request: config_service_pb2.CreateModelRequest) -> None:
    request.model.target.azure.api_version = "2024-10-21"


def _bedrock_with_key(request: config_service_pb2.CreateModelRequest) -> None:
    _bedrock(request)
    request.api_key = "not-for-bedrock"


def _bad_region(request: config_service_pb2.CreateModelRequest) -> None:
    _bedrock(request)
    request.model.target.bedrock.region = "Mars"


def _bad_api_version(request: config_service_pb2.CreateModelRequest) -> None:
    request.model.target.platform = common_pb2.PLATFORM_AZURE_OPENAI
    request.model.target.azure.api_version = "latest please"


def _too_many_retries(request: config_service_pb2.CreateModelRequest) -> None:
    request.model.target.limits.max_retries = 11


def _zero_idle_timeout(request: config_service_pb2.CreateModelRequest) -> None:
    request.model.target.limits.idle_timeout.SetInParent()


def _vllm_without_endpoint(request: config_service_pb2.CreateModelRequest) -> None:
    request.model.target.endpoint = ""


_INVALID: list[tuple[Change, str]] = [
    (_azure_options_on_vllm, "model.target.azure"),
    (_bedrock_with_key, "api_key"),
    (_bad_region, "model.target.bedrock.region"),
    (_bad_api_version, "model.target.azure.api_version"),
    (_too_many_retries, "model.target.limits.max_retries"),
    (_zero_idle_timeout, "model.target.limits.idle_timeout"),
    (_vllm_without_endpoint, "model.target.endpoint"),
]


@pytest.mark.parametrize(("change", "field"), _INVALID, ids=[c[1] for c in _INVALID])
async def test_bad_options_name_the_field(
    stub: ConfigServiceAsyncStub, change: Change, field: str
) -> None:
    request = model_request("m")
    change(request)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CreateModel(request)

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert from_rpc_error(raised.value).field == field
    assert "not-for-bedrock" not in (raised.value.details() or "")


async def test_options_and_limits_are_stored_and_returned(stub: ConfigServiceAsyncStub) -> None:
    bedrock = model_request("claude-bedrock")
    _bedrock(bedrock)
    limits = bedrock.model.target.limits
    limits.connect_timeout.FromMilliseconds(1500)
    limits.first_token_timeout.FromSeconds(20)
    limits.idle_timeout.FromSeconds(10)
    limits.max_retries = 0
    azure = model_request("gpt-azure", family="gpt")
    azure.model.target.platform = common_pb2.PLATFORM_AZURE_OPENAI
    azure.model.target.endpoint = "https://example.openai.azure.com"
    azure.model.target.azure.CopyFrom(
        common_pb2.AzureOptions(
            api=common_pb2.AZURE_API_V1, auth=common_pb2.AZURE_AUTH_ENTRA_BEARER
        )
    )

    await stub.CreateModel(bedrock)
    await stub.CreateModel(azure)
    listed = (await stub.ListModels(config_service_pb2.ListModelsRequest())).models

    by_name = {model.name: model.target for model in listed}
    stored = by_name["claude-bedrock"]
    assert stored.endpoint == ""
    assert stored.bedrock.region == "eu-central-1"
    assert stored.limits.connect_timeout.ToMilliseconds() == 1500
    assert stored.limits.first_token_timeout.seconds == 20
    assert stored.limits.idle_timeout.seconds == 10
    assert stored.limits.HasField("max_retries")
    assert stored.limits.max_retries == 0
    assert by_name["gpt-azure"].azure.api == common_pb2.AZURE_API_V1
    assert by_name["gpt-azure"].azure.auth == common_pb2.AZURE_AUTH_ENTRA_BEARER
    assert not by_name["gpt-azure"].limits.HasField("max_retries")
    assert not by_name["gpt-azure"].limits.HasField("idle_timeout")


# The schema as the first release made it, when SQLite's user_version counted migrations.
_RELEASE_ONE_SCHEMA = (
    "CREATE TABLE config_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)",
    "INSERT INTO config_version (id, version) VALUES (1, 1)",
    """CREATE TABLE models (
        name TEXT PRIMARY KEY, family TEXT NOT NULL, platform INTEGER NOT NULL,
        endpoint TEXT NOT NULL, identifier TEXT NOT NULL, sealed_api_key BLOB NOT NULL,
        timeout_seconds INTEGER, timeout_nanos INTEGER, max_output_tokens INTEGER NOT NULL,
        max_concurrent_requests INTEGER NOT NULL)""",
    "CREATE TABLE feature_settings (feature TEXT PRIMARY KEY, disabled INTEGER NOT NULL)",
    """CREATE TABLE feature_setting_models (
        feature TEXT NOT NULL REFERENCES feature_settings (feature) ON DELETE CASCADE,
        position INTEGER NOT NULL, model TEXT NOT NULL REFERENCES models (name),
        PRIMARY KEY (feature, position), UNIQUE (feature, model))""",
    "PRAGMA user_version = 1",
)


async def test_a_version_one_database_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "config.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in _RELEASE_ONE_SCHEMA:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO models VALUES ('old', 'codestral', 1, 'http://vllm:8000/v1', 'c', x'', "
        "30, 0, 0, 0)"
    )
    conn.close()

    store = await ConfigStore.open(path)
    try:
        (model,) = await store.list_models(after="", limit=10)
    finally:
        await store.close()

    assert model.target.limits.timeout.seconds == 30
    assert not model.target.limits.HasField("connect_timeout")
    assert model.target.WhichOneof("platform_options") is None
