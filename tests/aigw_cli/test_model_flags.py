"""`aigw models add` turns its flags into the Model config_svc stores."""

from __future__ import annotations

from aigw.common.v1 import common_pb2
from aigw_cli import admin
from aigw_cli.main import _parser


def _model(*flags: str) -> common_pb2.ModelTarget:
    args = _parser().parse_args(["models", "add", "m", "--family", "gpt", *flags])
    return admin.model_from_args(args).target


def test_timeouts_and_retries() -> None:
    target = _model(
        "--platform", "openai_compatible", "--endpoint", "http://vllm:8000/v1",
        "--identifier", "x", "--connect-timeout-s", "1.5", "--first-token-timeout-s", "20",
        "--idle-timeout-s", "5", "--max-retries", "0",
    )  # fmt: skip

    limits = target.limits
    assert limits.connect_timeout.ToMilliseconds() == 1500
    assert limits.first_token_timeout.seconds == 20
    assert limits.idle_timeout.seconds == 5
    assert limits.HasField("max_retries")
    assert limits.max_retries == 0
    assert target.WhichOneof("platform_options") is None


def test_unset_flags_leave_the_proxys_defaults() -> None:
    limits = _model("--platform", "anthropic", "--identifier", "claude").limits

    assert not limits.HasField("connect_timeout")
    assert not limits.HasField("max_retries")


def test_azure_and_bedrock_options() -> None:
    azure = _model(
        "--platform", "azure_openai", "--endpoint", "https://r.openai.azure.com",
        "--identifier", "gpt-4o", "--azure-api", "v1", "--azure-auth", "entra",
    )  # fmt: skip
    bedrock = _model("--platform", "bedrock", "--identifier", "id", "--region", "us-west-2")

    assert azure.azure == common_pb2.AzureOptions(
        api=common_pb2.AZURE_API_V1, auth=common_pb2.AZURE_AUTH_ENTRA_BEARER
    )
    assert bedrock.endpoint == ""
    assert bedrock.bedrock.region == "us-west-2"
