"""Administration over gRPC: tokens and keys from auth_svc, models and feature settings in
config_svc.

Calls to auth_svc carry the admin credential. Calls to config_svc (and model_proxy_svc) carry
a short-lived token that auth_svc mints for each command: `aigw_admin` to administer the
configuration, `aigw_service` to ask model_proxy_svc directly as aigw's own services do.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import UTC, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
from google.protobuf import duration_pb2, timestamp_pb2

from aigw.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2, config_service_pb2_grpc
from aigw_cli.model_vocabulary import AZURE_APIS, AZURE_AUTHS, COMPLETION_APIS, PLATFORMS
from aigw_common import scopes
from aigw_common.admin_credential import load_admin_credential
from aigw_common.settings import Settings
from aigw_common.tls import channel_credentials

if TYPE_CHECKING:
    from aigw.config.v1.config_service_pb2_grpc import ConfigServiceAsyncStub

_TIMEOUT_S = 10.0
# Long enough for any one command, short enough to be worthless soon after.
ADMIN_TOKEN_TTL_S = 300
KEY_STATE_NAMES = {
    auth_service_pb2.KEY_STATE_ACTIVE: "active",
    auth_service_pb2.KEY_STATE_NEXT: "next",
    auth_service_pb2.KEY_STATE_RETIRING: "retiring",
}


def channel(settings: Settings, address: str) -> grpc.aio.Channel:
    """A channel to an aigw service, with TLS when AIGW_TLS__ENABLED is set."""
    credentials = channel_credentials(settings.tls)
    if credentials is not None:
        return grpc.aio.secure_channel(address, credentials)
    return grpc.aio.insecure_channel(address)


def _credential_metadata(settings: Settings) -> list[tuple[str, str]]:
    credential = load_admin_credential(settings)
    return [("authorization", f"Bearer {credential}")]


async def issue_token(
    settings: Settings, subject: str, scopes: list[str], ttl_s: int | None
) -> auth_service_pb2.IssueTokenResponse:
    request = auth_service_pb2.IssueTokenRequest(subject=subject, scopes=scopes)
    if ttl_s is not None:
        request.ttl.FromTimedelta(timedelta(seconds=ttl_s))
    async with channel(settings, settings.auth_svc.address) as auth:
        return await auth_service_pb2_grpc.AuthServiceStub(auth).IssueToken(
            request, metadata=_credential_metadata(settings), timeout=_TIMEOUT_S
        )


async def rotate_keys(settings: Settings) -> auth_service_pb2.RotateKeysResponse:
    async with channel(settings, settings.auth_svc.address) as auth:
        return await auth_service_pb2_grpc.AuthServiceStub(auth).RotateKeys(
            auth_service_pb2.RotateKeysRequest(),
            metadata=_credential_metadata(settings),
            timeout=_TIMEOUT_S,
        )


async def key_set(settings: Settings) -> list[auth_service_pb2.SigningKeyInfo]:
    async with channel(settings, settings.auth_svc.address) as auth:
        response = await auth_service_pb2_grpc.AuthServiceStub(auth).GetKeySet(
            auth_service_pb2.GetKeySetRequest(),
            metadata=_credential_metadata(settings),
            timeout=_TIMEOUT_S,
        )
        return list(response.keys)


async def command_metadata(settings: Settings, *granted: str) -> list[tuple[str, str]]:
    """Metadata for one command's calls: a fresh short-lived token that grants `granted` and
    names the local user (the audit trail records its subject)."""
    response = await issue_token(settings, f"aigw-cli:{_user()}", list(granted), ADMIN_TOKEN_TTL_S)
    return [("authorization", f"Bearer {response.token}")]


async def admin_metadata(settings: Settings) -> list[tuple[str, str]]:
    """Metadata for administering config_svc: a command token with `aigw_admin`."""
    return await command_metadata(settings, scopes.ADMIN)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def model_from_args(args: argparse.Namespace) -> config_service_pb2.Model:
    limits = common_pb2.ModelLimits(
        max_output_tokens=args.max_output_tokens,
        max_concurrent_requests=args.max_concurrent_requests,
        max_stop_sequences=args.max_stop_sequences,
        context_tokens=args.context_tokens,
    )
    if args.timeout_s:
        limits.timeout.CopyFrom(duration_pb2.Duration(seconds=args.timeout_s))
    for flag, duration in (
        (args.connect_timeout_s, limits.connect_timeout),
        (args.first_token_timeout_s, limits.first_token_timeout),
        (args.idle_timeout_s, limits.idle_timeout),
    ):
        if flag:
            duration.FromNanoseconds(round(flag * 1e9))
    if args.max_retries is not None:
        limits.max_retries = args.max_retries
    target = common_pb2.ModelTarget(
        name=args.name,
        family=args.family,
        platform=PLATFORMS[args.platform],
        endpoint=args.endpoint,
        identifier=args.identifier,
        limits=limits,
        completion_api=COMPLETION_APIS.get(
            args.completion_api, common_pb2.COMPLETION_API_UNSPECIFIED
        ),
    )
    # Options for another platform are sent as given: config_svc names the mistake.
    if args.azure_api_version or args.azure_api or args.azure_auth:
        target.azure.CopyFrom(
            common_pb2.AzureOptions(
                api_version=args.azure_api_version or "",
                api=AZURE_APIS.get(args.azure_api or "", common_pb2.AZURE_API_UNSPECIFIED),
                auth=AZURE_AUTHS.get(args.azure_auth or "", common_pb2.AZURE_AUTH_UNSPECIFIED),
            )
        )
    if args.region:
        target.bedrock.region = args.region
    # The variable's name is kept with the model, so `config export` can write it and a later
    # `config apply` read the same key again.
    return config_service_pb2.Model(
        name=args.name, family=args.family, target=target, api_key_env=args.api_key_env or ""
    )


def api_key_from_args(args: argparse.Namespace) -> str:
    """The API key from --api-key-env or --api-key-file: never from argv, where `ps` shows it."""
    if args.api_key_env:
        try:
            return os.environ[args.api_key_env]
        except KeyError:
            raise SystemExit(f"aigw: environment variable {args.api_key_env} is not set") from None
    if args.api_key_file:
        return Path(args.api_key_file).read_text().strip()
    return ""


async def create_model(
    settings: Settings, model: config_service_pb2.Model, api_key: str
) -> config_service_pb2.CreateModelResponse:
    metadata = await admin_metadata(settings)
    async with channel(settings, settings.config_svc.address) as config:
        return await config_stub(config).CreateModel(
            config_service_pb2.CreateModelRequest(model=model, api_key=api_key),
            metadata=metadata,
            timeout=_TIMEOUT_S,
        )


async def list_models(settings: Settings) -> list[config_service_pb2.Model]:
    models: list[config_service_pb2.Model] = []
    metadata = await admin_metadata(settings)
    async with channel(settings, settings.config_svc.address) as config:
        token = ""
        while True:
            page = await config_stub(config).ListModels(
                config_service_pb2.ListModelsRequest(page_token=token),
                metadata=metadata,
                timeout=_TIMEOUT_S,
            )
            models.extend(page.models)
            token = page.next_page_token
            if not token:
                return models


async def delete_model(settings: Settings, name: str) -> int:
    metadata = await admin_metadata(settings)
    async with channel(settings, settings.config_svc.address) as config:
        response = await config_stub(config).DeleteModel(
            config_service_pb2.DeleteModelRequest(name=name), metadata=metadata, timeout=_TIMEOUT_S
        )
        return int(response.version)


async def set_feature(
    settings: Settings, feature: str, models: list[str], *, disabled: bool
) -> int:
    setting = config_service_pb2.FeatureSetting(feature=feature, models=models, disabled=disabled)
    metadata = await admin_metadata(settings)
    async with channel(settings, settings.config_svc.address) as config:
        response = await config_stub(config).SetFeatureSetting(
            config_service_pb2.SetFeatureSettingRequest(feature_setting=setting),
            metadata=metadata,
            timeout=_TIMEOUT_S,
        )
        return int(response.version)


async def list_features(settings: Settings) -> list[config_service_pb2.FeatureSetting]:
    settings_list: list[config_service_pb2.FeatureSetting] = []
    metadata = await admin_metadata(settings)
    async with channel(settings, settings.config_svc.address) as config:
        token = ""
        while True:
            page = await config_stub(config).ListFeatureSettings(
                config_service_pb2.ListFeatureSettingsRequest(page_token=token),
                metadata=metadata,
                timeout=_TIMEOUT_S,
            )
            settings_list.extend(page.feature_settings)
            token = page.next_page_token
            if not token:
                return settings_list


def timestamp(moment: timestamp_pb2.Timestamp) -> str:
    """A protobuf timestamp as `YYYY-MM-DD HH:MM:SS UTC`."""
    return moment.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def fail(error: grpc.aio.AioRpcError) -> None:
    print(f"aigw: {error.code().name}: {error.details()}", file=sys.stderr)
    raise SystemExit(1)


def config_stub(config: grpc.aio.Channel) -> ConfigServiceAsyncStub:
    return config_service_pb2_grpc.ConfigServiceStub(config)
