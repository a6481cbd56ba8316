from __future__ import annotations

import pytest

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2
from aigw_cli.config_file import ConfigFileError, dump, load

FILE = """
models:
  codestral:
    family: codestral
    platform: openai_compatible
    endpoint: http://vllm:8000/v1
    identifier: mistralai/Codestral-22B-v0.1
    api_key_env: VLLM_KEY
    timeout_s: 30
    first_token_timeout_s: 5
    idle_timeout_s: 2.5
    max_retries: 0
  claude:
    family: claude_3
    platform: bedrock
    identifier: us.anthropic.claude-3-5-sonnet-20241022-v2:0
    bedrock: {region: eu-west-1}
  gpt4o:
    family: gpt
    platform: azure_openai
    endpoint: https://r.openai.azure.com
    identifier: gpt-4o
    azure: {api_version: 2024-10-21, api: deployments, auth: entra}
features:
  code_completions: codestral
  duo_chat: [claude, gpt4o]
  code_generations: disabled
"""


def test_every_model_option_survives_load_and_export() -> None:
    request = load(FILE, environ={"VLLM_KEY": "k-123"})
    models = {declared.model.name: declared for declared in request.models}

    codestral = models["codestral"]
    assert codestral.api_key == "k-123"
    limits = codestral.model.target.limits
    assert limits.timeout.seconds == 30
    assert limits.first_token_timeout.seconds == 5
    assert limits.idle_timeout.ToMilliseconds() == 2500
    assert limits.HasField("max_retries")
    assert limits.max_retries == 0
    claude = models["claude"].model.target
    assert claude.platform == common_pb2.PLATFORM_BEDROCK
    assert claude.endpoint == ""
    assert claude.bedrock.region == "eu-west-1"
    azure = models["gpt4o"].model.target.azure
    assert (azure.api_version, azure.api, azure.auth) == (
        "2024-10-21",
        common_pb2.AZURE_API_DEPLOYMENTS,
        common_pb2.AZURE_AUTH_ENTRA_BEARER,
    )

    snapshot = config_service_pb2.ConfigSnapshot(
        version=7,
        models=[declared.model for declared in request.models],
        feature_settings=list(request.feature_settings),
    )
    exported = dump(snapshot)
    again = load(exported, environ={"VLLM_KEY": "k-123"})
    assert [d.model for d in again.models] == [d.model for d in request.models]
    assert list(again.feature_settings) == list(request.feature_settings)
    assert "k-123" not in exported


def test_a_plaintext_key_and_a_missing_variable_are_refused() -> None:
    with pytest.raises(ConfigFileError, match=r"m.api_key: API keys are never written"):
        load("models:\n  m: {family: gpt, platform: anthropic, identifier: x, api_key: s}\n")
    with pytest.raises(ConfigFileError, match="VLLM_KEY is not set"):
        load(FILE, environ={})


def test_unknown_options_name_their_place() -> None:
    with pytest.raises(ConfigFileError, match=r"models.m.azure.region"):
        load(
            "models:\n  m: {family: gpt, platform: azure_openai, identifier: x, "
            "azure: {region: x}}\n"
        )
