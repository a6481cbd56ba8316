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
from aigw_cli.model_advice import discover_completion_api, fix_for
from aigw_common import scopes
from aigw_common.secrets_box import SecretsBox, load_sealing_key
from aigw_common.server_limits import ServerLimits, max_stop_sequences
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


async def find_completion_api(
    settings: Settings, target: common_pb2.ModelTarget, api_key: str
) -> None:
    """Set `target.completion_api` to the API the server serves prompts on, when it can tell."""
    probe = common_pb2.ModelTarget()
    probe.CopyFrom(target)
    if api_key:
        probe.sealed_api_key = SecretsBox(load_sealing_key(settings)).seal(api_key)
    metadata = await admin.command_metadata(settings, scopes.SERVICE)
    async with admin.channel(settings, settings.model_proxy.address) as channel:
        proxy = model_proxy_service_pb2_grpc.ModelProxyServiceStub(channel)
        found = await discover_completion_api(proxy, probe, metadata, _TIMEOUT_S)
    if found is None:
        print("completion API: could not tell (see `aigw models check NAME`); using completions")
        return
    target.completion_api = found
    print(f"completion API: {model_vocabulary.COMPLETION_API_NAMES[found]}")


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
    limits = ServerLimits(max_stop_sequences=max_stop_sequences(model.target))
    prepared = prepare_check(model.family, limits=limits)
    prepared.generation.target.CopyFrom(model.target)
    started = time.perf_counter()
    async with admin.channel(settings, settings.model_proxy.address) as channel:
        proxy = model_proxy_service_pb2_grpc.ModelProxyServiceStub(channel)
        try:
            response = await proxy.Generate(
                model_proxy_service_pb2.GenerateRequest(generation=prepared.generation),
                metadata=metadata,
                timeout=prepared.timeout_s or _TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as error:
            elapsed_ms = (time.perf_counter() - started) * 1000
            raise SystemExit(
                f"model {model.name} FAILED after {elapsed_ms:.0f} ms: "
                f"{error.code().name}: {error.details()}\nfix: {fix_for(error)}"
            ) from None
        elapsed_ms = (time.perf_counter() - started) * 1000
        print(
            f"model {model.name} OK in {elapsed_ms:.0f} ms ({model.target.endpoint}, "
            f"{model.target.identifier}, prompt {prepared.template_id}): {response.text!r}"
        )
        if model.target.platform == common_pb2.PLATFORM_OPENAI_COMPATIBLE:
            found = await discover_completion_api(proxy, model.target, metadata, _TIMEOUT_S)
            _report_completion_api(model, found)


def _report_completion_api(
    model: config_service_pb2.Model, found: common_pb2.CompletionApi.ValueType | None
) -> None:
    stored = model.target.completion_api or common_pb2.COMPLETION_API_COMPLETIONS
    if found is None:
        return
    name = model_vocabulary.COMPLETION_API_NAMES[found]
    if found == stored:
        print(f"completion API: {name}")
        return
    print(
        f"completion API: the server serves prompts on {name}, but the model is set to "
        f"{model_vocabulary.COMPLETION_API_NAMES[stored]}: set `completion_api: {name}` for "
        f"{model.name} (`aigw config export`, edit, `aigw config apply`)"
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
