"""Administration over gRPC: tokens from auth_svc, models and feature settings in config_svc."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
from google.protobuf import duration_pb2

from aigw.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2, config_service_pb2_grpc
from aigw_cli.model_vocabulary import AZURE_APIS, AZURE_AUTHS, PLATFORMS
from aigw_common import scopes
from aigw_common.settings import Settings
from auth_svc.admin_credential import load_or_create_admin_credential

if TYPE_CHECKING:
    from aigw.config.v1.config_service_pb2_grpc import ConfigServiceAsyncStub

_TIMEOUT_S = 10.0


async def issue_token(
    settings: Settings, subject: str, scopes: list[str], ttl_s: int | None
) -> auth_service_pb2.IssueTokenResponse:
    request = auth_service_pb2.IssueTokenRequest(subject=subject, scopes=scopes)
    if ttl_s is not None:
        request.ttl.FromTimedelta(timedelta(seconds=ttl_s))
    credential = load_or_create_admin_credential(settings)
    async with grpc.aio.insecure_channel(settings.auth_svc.address) as channel:
        return await auth_service_pb2_grpc.AuthServiceStub(channel).IssueToken(
            request, metadata=[("authorization", f"Bearer {credential}")], timeout=_TIMEOUT_S
        )


async def admin_metadata(settings: Settings) -> list[tuple[str, str]]:
    """A short-lived `aigw_admin` token naming the local user, as call metadata (the audit trail
    records its subject)."""
    response = await issue_token(settings, f"aigw-cli:{_user()}", [scopes.ADMIN], 300)
    return [("authorization", f"Bearer {response.token}")]


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def model_from_args(args: argparse.Namespace) -> config_service_pb2.Model:
    limits = common_pb2.ModelLimits(
        max_output_tokens=args.max_output_tokens,
        max_concurrent_requests=args.max_concurrent_requests,
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
    return config_service_pb2.Model(name=args.name, family=args.family, target=target)


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
    async with grpc.aio.insecure_channel(settings.config_svc.address) as channel:
        return await _config(channel).CreateModel(
            config_service_pb2.CreateModelRequest(model=model, api_key=api_key),
            metadata=metadata,
            timeout=_TIMEOUT_S,
        )


async def list_models(settings: Settings) -> list[config_service_pb2.Model]:
    models: list[config_service_pb2.Model] = []
    metadata = await admin_metadata(settings)
    async with grpc.aio.insecure_channel(settings.config_svc.address) as channel:
        token = ""
        while True:
            page = await _config(channel).ListModels(
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
    async with grpc.aio.insecure_channel(settings.config_svc.address) as channel:
        response = await _config(channel).DeleteModel(
            config_service_pb2.DeleteModelRequest(name=name), metadata=metadata, timeout=_TIMEOUT_S
        )
        return int(response.version)


async def set_feature(
    settings: Settings, feature: str, models: list[str], *, disabled: bool
) -> int:
    setting = config_service_pb2.FeatureSetting(feature=feature, models=models, disabled=disabled)
    metadata = await admin_metadata(settings)
    async with grpc.aio.insecure_channel(settings.config_svc.address) as channel:
        response = await _config(channel).SetFeatureSetting(
            config_service_pb2.SetFeatureSettingRequest(feature_setting=setting),
            metadata=metadata,
            timeout=_TIMEOUT_S,
        )
        return int(response.version)


async def list_features(settings: Settings) -> list[config_service_pb2.FeatureSetting]:
    settings_list: list[config_service_pb2.FeatureSetting] = []
    metadata = await admin_metadata(settings)
    async with grpc.aio.insecure_channel(settings.config_svc.address) as channel:
        token = ""
        while True:
            page = await _config(channel).ListFeatureSettings(
                config_service_pb2.ListFeatureSettingsRequest(page_token=token),
                metadata=metadata,
                timeout=_TIMEOUT_S,
            )
            settings_list.extend(page.feature_settings)
            token = page.next_page_token
            if not token:
                return settings_list


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def fail(error: grpc.aio.AioRpcError) -> None:
    print(f"aigw: {error.code().name}: {error.details()}", file=sys.stderr)
    raise SystemExit(1)


def config_stub(channel: grpc.aio.Channel) -> ConfigServiceAsyncStub:
    return _config(channel)


def _config(channel: grpc.aio.Channel) -> ConfigServiceAsyncStub:
    return config_service_pb2_grpc.ConfigServiceStub(channel)
