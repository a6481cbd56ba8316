"""`aigw doctor`'s checks of the configuration's features and models, the completions through
the router, and the ad-hoc check of a model not configured yet."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import grpc

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2
from aigw.modelproxy.v1 import model_proxy_service_pb2, model_proxy_service_pb2_grpc
from aigw.router.v1 import router_service_pb2, router_service_pb2_grpc
from aigw_cli import admin, model_vocabulary
from aigw_cli.doctor_checks import (
    Result,
    admin_credential_check,
    auth_checks,
    ejection_checks,
    rpc_error,
    service_checks,
)
from aigw_cli.model_advice import fix_for
from aigw_common import catalog, scopes
from aigw_common.errors import InvalidArgument
from aigw_common.secrets_box import SecretsBox, load_sealing_key
from aigw_common.server_limits import ServerLimits, max_stop_sequences
from aigw_common.settings import Settings
from aigw_prompts import prepare_check


@dataclass(frozen=True)
class AdHocModel:
    """A model described on the command line, not configured."""

    endpoint: str
    identifier: str
    family: str
    platform: str
    api_key_env: str | None


async def suite_checks(settings: Settings, timeout_s: float) -> list[Result]:
    """Sections 2-6 against the running suite."""
    results = await service_checks(settings)
    if (missing := admin_credential_check(settings)) is not None:
        return [*results, missing]
    results += await auth_checks(settings, timeout_s)
    try:
        metadata = await admin.command_metadata(settings, scopes.ADMIN, scopes.SERVICE)
        async with admin.channel(settings, settings.config_svc.address) as channel:
            snapshot = (
                await admin.config_stub(channel).GetConfig(
                    config_service_pb2.GetConfigRequest(), metadata=metadata, timeout=timeout_s
                )
            ).snapshot
    except grpc.aio.AioRpcError as error:
        return [
            *results,
            Result(
                "features",
                "configuration",
                "fail",
                f"cannot read it: {rpc_error(error)}",
                "make auth_svc and config_svc healthy first (see above)",
            ),
        ]
    results += feature_checks(snapshot)
    results += await ejection_checks(settings)
    for model in snapshot.models:
        results += await model_checks(settings, metadata, model.target, timeout_s)
    results += await completion_checks(settings, snapshot, timeout_s)
    return results


def feature_checks(snapshot: config_service_pb2.ConfigSnapshot) -> list[Result]:
    """Section 4: each feature's models exist and their families may serve it."""
    families = {model.name: model.family for model in snapshot.models}
    results: list[Result] = []
    for setting in snapshot.feature_settings:
        name = setting.feature
        if setting.disabled:
            results.append(Result("features", name, "skip", "disabled"))
            continue
        problems, served = [], []
        for model in setting.models:
            family = families.get(model)
            level = catalog.support(family, name) if family else None
            if family is None:
                problems.append(f"{model} is not a configured model")
            elif level is None:
                problems.append(f"{model}'s family {family} cannot serve {name}")
            else:
                served.append(f"{model} ({family}: {level.value})")
        if problems or not served:
            results.append(
                Result(
                    "features",
                    name,
                    "fail",
                    "; ".join(problems) or "no model assigned",
                    f"`aigw features set {name} MODEL` with a model of one of: "
                    f"{', '.join(catalog.families_for(name))}",
                )
            )
        else:
            results.append(Result("features", name, "pass", ", ".join(served)))
    if not results:
        results.append(
            Result(
                "features",
                "assignments",
                "fail",
                "no feature is configured",
                "`aigw models add ...` then `aigw features set FEATURE MODEL`",
            )
        )
    return results


async def model_checks(
    settings: Settings,
    metadata: list[tuple[str, str]],
    target: common_pb2.ModelTarget,
    timeout_s: float,
) -> list[Result]:
    """Section 5: the endpoint answers, serves the identifier, and accepts the credentials (a
    tiny check prompt through model_proxy_svc)."""
    label = f"model {target.name or target.identifier}"
    results: list[Result] = []
    async with admin.channel(settings, settings.model_proxy.address) as channel:
        proxy = model_proxy_service_pb2_grpc.ModelProxyServiceStub(channel)
        try:
            listed = await proxy.ListProviderModels(
                model_proxy_service_pb2.ListProviderModelsRequest(target=target),
                metadata=metadata,
                timeout=timeout_s,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.FAILED_PRECONDITION:
                results.append(
                    Result("models", f"{label} identifier", "skip", error.details() or "")
                )
            else:
                results.append(
                    Result(
                        "models",
                        f"{label} endpoint",
                        "fail",
                        f"{target.endpoint or 'default endpoint'}: {rpc_error(error)}",
                        "check the endpoint URL, that the server runs, and the network/TLS path "
                        "from model_proxy_svc",
                    )
                )
        else:
            served = list(listed.identifiers)
            ok = target.identifier in served
            results.append(
                Result(
                    "models",
                    f"{label} identifier",
                    "pass" if ok else "fail",
                    f"{target.endpoint} serves {target.identifier}"
                    if ok
                    else f"{target.endpoint} does not serve {target.identifier!r}; it serves: "
                    f"{', '.join(served) or 'nothing'}",
                    "set the model's identifier to one the server serves "
                    "(`aigw models discover --endpoint ...`)",
                )
            )
        limits = ServerLimits(max_stop_sequences=max_stop_sequences(target))
        prepared = prepare_check(target.family, limits=limits)
        prepared.generation.target.CopyFrom(target)
        started = time.perf_counter()
        try:
            answer = await proxy.Generate(
                model_proxy_service_pb2.GenerateRequest(generation=prepared.generation),
                metadata=metadata,
                timeout=timeout_s,
            )
        except grpc.aio.AioRpcError as error:
            results.append(
                Result("models", f"{label} answers", "fail", rpc_error(error), fix_for(error))
            )
        else:
            elapsed_ms = (time.perf_counter() - started) * 1000
            results.append(
                Result(
                    "models",
                    f"{label} answers",
                    "pass",
                    f"{elapsed_ms:.0f} ms, {answer.usage.output_tokens} tokens out",
                )
            )
    return results


async def completion_checks(
    settings: Settings, snapshot: config_service_pb2.ConfigSnapshot, timeout_s: float
) -> list[Result]:
    """Section 6: a real short completion per enabled feature through the router."""
    enabled = [s.feature for s in snapshot.feature_settings if not s.disabled and s.models]
    if not enabled:
        return [Result("completions", "features", "skip", "no enabled feature")]
    features = [catalog.feature(name) for name in enabled]
    try:
        token = await admin.issue_token(
            settings, "aigw-doctor", sorted({f.scope for f in features}), 300
        )
    except grpc.aio.AioRpcError as error:
        return [
            Result(
                "completions",
                "token",
                "fail",
                rpc_error(error),
                "make the auth round trip pass first",
            )
        ]
    results: list[Result] = []
    metadata = [("authorization", f"Bearer {token.token}")]
    async with admin.channel(settings, settings.router.address) as channel:
        router = router_service_pb2_grpc.RouterServiceStub(channel)
        for feature in features:
            started = time.perf_counter()
            try:
                answer = await router.Complete(
                    router_service_pb2.CompleteRequest(completion=_completion(feature)),
                    metadata=metadata,
                    timeout=timeout_s,
                )
            except grpc.aio.AioRpcError as error:
                results.append(
                    Result(
                        "completions",
                        feature.name,
                        "fail",
                        rpc_error(error),
                        "fix the failures above; the router's log names the request",
                    )
                )
                continue
            elapsed_ms = (time.perf_counter() - started) * 1000
            results.append(
                Result(
                    "completions",
                    feature.name,
                    "pass",
                    f"{elapsed_ms:.0f} ms via {answer.served_by.model}",
                )
            )
    return results


def _completion(feature: catalog.Feature) -> router_service_pb2.Completion:
    completion = router_service_pb2.Completion(feature=feature.name)
    if feature.kind is catalog.FeatureKind.CHAT:
        completion.chat.messages.append(
            common_pb2.Message(role=common_pb2.ROLE_USER, content="Say hello.")
        )
    else:
        completion.code.file_name = "doctor.py"
        completion.code.content_above_cursor = "def add(a, b):\n    "
    completion.parameters.max_tokens = 16
    return completion


async def adhoc_model_checks(
    settings: Settings, model: AdHocModel, timeout_s: float
) -> list[Result]:
    """A model given on the command line: the proxy's health, then the model checks."""
    results = [r for r in await service_checks(settings) if r.name.startswith("model_proxy_svc")]
    if (missing := admin_credential_check(settings)) is not None:
        return [*results, missing]
    try:
        catalog.check_family(model.family, field="--model-family")
    except InvalidArgument as error:
        return [*results, Result("models", "family", "fail", str(error), "name a known family")]
    target = common_pb2.ModelTarget(
        name=model.identifier,
        family=model.family,
        platform=model_vocabulary.PLATFORMS[model.platform],
        endpoint=model.endpoint,
        identifier=model.identifier,
    )
    if model.api_key_env:
        args = argparse.Namespace(api_key_env=model.api_key_env, api_key_file=None)
        # Sealed as config_svc would: only the proxy opens it.
        target.sealed_api_key = SecretsBox(load_sealing_key(settings)).seal(
            admin.api_key_from_args(args)
        )
    try:
        metadata = await admin.command_metadata(settings, scopes.SERVICE)
    except grpc.aio.AioRpcError as error:
        return [
            *results,
            Result("auth", "service token", "fail", rpc_error(error), "make auth_svc healthy"),
        ]
    return results + await model_checks(settings, metadata, target, timeout_s)
