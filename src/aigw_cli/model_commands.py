"""`aigw models discover` and `aigw models check`: what a server serves, and whether a
configured model answers."""

from __future__ import annotations

import argparse
import time

import grpc

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2
from aigw.modelproxy.v1 import model_proxy_service_pb2, model_proxy_service_pb2_grpc
from aigw_cli import admin, model_vocabulary
from aigw_common import scopes
from aigw_common.secrets_box import SecretsBox, load_sealing_key
from aigw_common.settings import Settings
from aigw_prompts import prepare_check

_TIMEOUT_S = 30.0


async def discover(settings: Settings, args: argparse.Namespace) -> None:
    """List the model identifiers a server serves (asked through model_proxy_svc)."""
    target = common_pb2.ModelTarget(
        platform=model_vocabulary.PLATFORMS[args.platform], endpoint=args.endpoint
    )
    api_key = admin.api_key_from_args(args)
    if api_key:
        # Keys travel sealed, as they do from config_svc; only the proxy opens them.
        target.sealed_api_key = SecretsBox(load_sealing_key(settings)).seal(api_key)
    # model_proxy_svc admits aigw's services only: this command asks as one.
    metadata = await admin.command_metadata(settings, scopes.SERVICE)
    async with admin.channel(settings, settings.model_proxy.address) as channel:
        response = await model_proxy_service_pb2_grpc.ModelProxyServiceStub(
            channel
        ).ListProviderModels(
            model_proxy_service_pb2.ListProviderModelsRequest(target=target),
            metadata=metadata,
            timeout=_TIMEOUT_S,
        )
    if not response.identifiers:
        print("the server lists no models")
    for identifier in response.identifiers:
        print(identifier)


async def check(settings: Settings, args: argparse.Namespace) -> None:
    """Send the family's tiny check prompt to a configured model; report latency or failure."""
    # One token for both calls: reading the configuration, then asking model_proxy_svc.
    metadata = await admin.command_metadata(settings, scopes.ADMIN, scopes.SERVICE)
    async with admin.channel(settings, settings.config_svc.address) as channel:
        snapshot = (
            await admin.config_stub(channel).GetConfig(
                config_service_pb2.GetConfigRequest(), metadata=metadata, timeout=_TIMEOUT_S
            )
        ).snapshot
    model = next((m for m in snapshot.models if m.name == args.name), None)
    if model is None:
        raise SystemExit(f"aigw: no model named {args.name!r}; see `aigw models list`")
    prepared = prepare_check(model.family)
    prepared.generation.target.CopyFrom(model.target)
    started = time.perf_counter()
    async with admin.channel(settings, settings.model_proxy.address) as channel:
        try:
            response = await model_proxy_service_pb2_grpc.ModelProxyServiceStub(channel).Generate(
                model_proxy_service_pb2.GenerateRequest(generation=prepared.generation),
                metadata=metadata,
                timeout=prepared.timeout_s or _TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as error:
            elapsed_ms = (time.perf_counter() - started) * 1000
            raise SystemExit(
                f"model {model.name} FAILED after {elapsed_ms:.0f} ms: "
                f"{error.code().name}: {error.details()}"
            ) from None
    elapsed_ms = (time.perf_counter() - started) * 1000
    print(
        f"model {model.name} OK in {elapsed_ms:.0f} ms ({model.target.endpoint}, "
        f"{model.target.identifier}, prompt {prepared.template_id}): {response.text!r}"
    )


def add_parsers(models: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    discover_ = models.add_parser(
        "discover", help="list the model ids a vLLM / OpenAI-compatible server serves"
    )
    discover_.add_argument("--endpoint", required=True, help="e.g. http://vllm:8000/v1")
    discover_.add_argument(
        "--platform", default="openai_compatible", choices=sorted(model_vocabulary.PLATFORMS)
    )
    discover_.add_argument("--api-key-env", help="read the API key from this variable")
    discover_.add_argument("--api-key-file", help="read the API key from this file")
    discover_.set_defaults(handler=discover)
    check_ = models.add_parser(
        "check", help="send a tiny prompt to a configured model; report latency or the failure"
    )
    check_.add_argument("name")
    check_.set_defaults(handler=check)
