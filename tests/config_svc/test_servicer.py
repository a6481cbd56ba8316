from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
import pytest
import structlog

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2
from aigw_common import scopes
from aigw_common.grpc_errors import from_rpc_error
from tests.auth_support import bearer
from tests.config_svc.support import RunningService, feature_request, model_request

if TYPE_CHECKING:
    from aigw.config.v1.config_service_pb2_grpc import ConfigServiceAsyncStub

_API_KEY = "sk-live-0123456789abcdef-very-secret"


async def _current_version(stub: ConfigServiceAsyncStub) -> int:
    call = stub.WatchConfig(config_service_pb2.WatchConfigRequest(known_version=0))
    try:
        response = await asyncio.wait_for(call.read(), 1.0)
        assert isinstance(response, config_service_pb2.WatchConfigResponse)
        return response.snapshot.version
    finally:
        call.cancel()


async def _read(call: Any) -> config_service_pb2.ConfigSnapshot:
    """The next snapshot on a watch; the spec allows up to 1 s after a change."""
    response = await asyncio.wait_for(call.read(), 1.0)
    assert isinstance(response, config_service_pb2.WatchConfigResponse)
    return response.snapshot


async def test_crud_round_trip(stub: ConfigServiceAsyncStub) -> None:
    start = await _current_version(stub)

    created = await stub.CreateModel(model_request("codestral-22b"))
    await stub.CreateModel(model_request("mistral-7b", family="mistral"))
    feature = await stub.SetFeatureSetting(
        feature_request("code_completions", "codestral-22b", "mistral-7b")
    )
    listed = await stub.ListModels(config_service_pb2.ListModelsRequest())
    features = await stub.ListFeatureSettings(config_service_pb2.ListFeatureSettingsRequest())

    assert created.version == start + 1
    assert created.model.target.name == "codestral-22b"
    assert created.model.target.family == "codestral"
    assert created.model.target.endpoint == "http://vllm:8000/v1"
    assert created.model.target.limits.max_output_tokens == 512
    assert feature.version == start + 3
    assert [m.name for m in listed.models] == ["codestral-22b", "mistral-7b"]
    assert listed.models[0] == created.model
    assert listed.next_page_token == ""
    assert list(features.feature_settings) == [feature.feature_setting]

    with pytest.raises(grpc.aio.AioRpcError) as in_use:
        await stub.DeleteModel(config_service_pb2.DeleteModelRequest(name="mistral-7b"))
    assert in_use.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "code_completions" in (in_use.value.details() or "")

    await stub.SetFeatureSetting(feature_request("code_completions", disabled=True))
    deleted = await stub.DeleteModel(config_service_pb2.DeleteModelRequest(name="mistral-7b"))
    assert deleted.version == start + 5
    listed = await stub.ListModels(config_service_pb2.ListModelsRequest())
    assert [m.name for m in listed.models] == ["codestral-22b"]


async def test_conflicts_map_to_their_codes(stub: ConfigServiceAsyncStub) -> None:
    await stub.CreateModel(model_request("a"))

    with pytest.raises(grpc.aio.AioRpcError) as duplicate:
        await stub.CreateModel(model_request("a"))
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.DeleteModel(config_service_pb2.DeleteModelRequest(name="nope"))
    with pytest.raises(grpc.aio.AioRpcError) as unknown_model:
        await stub.SetFeatureSetting(feature_request("duo_chat", "a", "ghost"))

    assert duplicate.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert unknown_model.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert from_rpc_error(unknown_model.value).field == "feature_setting.models"


async def test_api_key_is_sealed_and_never_returned_or_logged(service: RunningService) -> None:
    stub = service.stub
    request = model_request("with-key", api_key=_API_KEY)
    request.model.target.sealed_api_key = b"ignored"
    watch = stub.WatchConfig(config_service_pb2.WatchConfigRequest(known_version=0))
    await _read(watch)

    with structlog.testing.capture_logs() as logs:
        created = await stub.CreateModel(request)
    listed = await stub.ListModels(config_service_pb2.ListModelsRequest())
    watched = await _read(watch)
    watch.cancel()
    without_key = await stub.CreateModel(model_request("without-key"))

    responses = [created, listed, watched]
    for response in responses:
        assert _API_KEY.encode() not in response.SerializeToString()
    sealed = {
        created.model.target.sealed_api_key,
        listed.models[0].target.sealed_api_key,
        watched.models[0].target.sealed_api_key,
    }
    assert len(sealed) == 1
    assert b"ignored" not in sealed
    assert service.box.open(sealed.pop()) == _API_KEY
    assert without_key.model.target.sealed_api_key == b""
    assert logs, "the change was not logged"
    assert all(_API_KEY not in repr(entry) for entry in logs)


async def test_change_log_says_who_what_and_version(service: RunningService) -> None:
    # The subject comes from the verified token, not from a claim in the metadata.
    metadata = [
        *bearer(service.issuer, scopes.ADMIN, subject="admin@example"),
        ("x-aigw-subject", "someone-else"),
    ]
    with structlog.testing.capture_logs() as logs:
        response = await service.stub.CreateModel(model_request("logged"), metadata=metadata)

    entry = next(entry for entry in logs if entry["event"] == "model created")
    assert entry["subject"] == "admin@example"
    assert entry["model"] == "logged"
    assert entry["version"] == response.version


def _create(change: Callable[[config_service_pb2.CreateModelRequest], None]) -> Any:
    async def call(stub: ConfigServiceAsyncStub) -> Any:
        request = model_request("valid", api_key="k")
        change(request)
        return await stub.CreateModel(request)

    return call


def _set(**fields: Any) -> Any:
    async def call(stub: ConfigServiceAsyncStub) -> Any:
        return await stub.SetFeatureSetting(
            config_service_pb2.SetFeatureSettingRequest(
                feature_setting=config_service_pb2.FeatureSetting(**fields)
            )
        )

    return call


async def _watch_negative(stub: ConfigServiceAsyncStub) -> Any:
    call = stub.WatchConfig(config_service_pb2.WatchConfigRequest(known_version=-1))
    return await call.read()


def _set_attr(path: str, value: Any) -> Callable[[config_service_pb2.CreateModelRequest], None]:
    def change(request: config_service_pb2.CreateModelRequest) -> None:
        *parents, leaf = path.split(".")
        target: Any = request
        for name in parents:
            target = getattr(target, name)
        setattr(target, leaf, value)

    return change


_INVALID: list[tuple[str, Callable[[ConfigServiceAsyncStub], Awaitable[Any]], str]] = [
    ("empty name", _create(_set_attr("model.name", "")), "model.name"),
    ("long name", _create(_set_attr("model.name", "a" * 64)), "model.name"),
    ("name with space", _create(_set_attr("model.name", "bad name")), "model.name"),
    ("unknown family", _create(_set_attr("model.family", "nope")), "model.family"),
    ("other target name", _create(_set_attr("model.target.name", "x")), "model.target.name"),
    (
        "unset platform",
        _create(_set_attr("model.target.platform", common_pb2.PLATFORM_UNSPECIFIED)),
        "model.target.platform",
    ),
    ("unknown platform", _create(_set_attr("model.target.platform", 99)), "model.target.platform"),
    ("empty endpoint", _create(_set_attr("model.target.endpoint", "")), "model.target.endpoint"),
    (
        "relative endpoint",
        _create(_set_attr("model.target.endpoint", "/v1")),
        "model.target.endpoint",
    ),
    (
        "ftp endpoint",
        _create(_set_attr("model.target.endpoint", "ftp://h/")),
        "model.target.endpoint",
    ),
    ("no host", _create(_set_attr("model.target.endpoint", "http://")), "model.target.endpoint"),
    (
        "bad port",
        _create(_set_attr("model.target.endpoint", "http://h:99999/")),
        "model.target.endpoint",
    ),
    (
        "credentials in endpoint",
        _create(_set_attr("model.target.endpoint", "http://u:p@h/")),
        "model.target.endpoint",
    ),
    (
        "empty identifier",
        _create(_set_attr("model.target.identifier", "")),
        "model.target.identifier",
    ),
    (
        "long identifier",
        _create(_set_attr("model.target.identifier", "x" * 256)),
        "model.target.identifier",
    ),
    (
        "negative max tokens",
        _create(_set_attr("model.target.limits.max_output_tokens", -1)),
        "model.target.limits.max_output_tokens",
    ),
    (
        "negative concurrency",
        _create(_set_attr("model.target.limits.max_concurrent_requests", -1)),
        "model.target.limits.max_concurrent_requests",
    ),
    (
        "negative timeout",
        _create(_set_attr("model.target.limits.timeout.seconds", -1)),
        "model.target.limits.timeout",
    ),
    ("long api key", _create(_set_attr("api_key", "k" * 4097)), "api_key"),
    ("unknown feature", _set(feature="nope", models=["a"]), "feature_setting.feature"),
    ("no feature", _set(models=["a"]), "feature_setting.feature"),
    (
        "disabled with models",
        _set(feature="duo_chat", disabled=True, models=["a"]),
        "feature_setting.models",
    ),
    ("no models", _set(feature="duo_chat"), "feature_setting.models"),
    (
        "nine models",
        _set(feature="duo_chat", models=[f"m{i}" for i in range(9)]),
        "feature_setting.models",
    ),
    ("repeated model", _set(feature="duo_chat", models=["a", "a"]), "feature_setting.models"),
    ("bad model name", _set(feature="duo_chat", models=["a b"]), "feature_setting.models"),
    (
        "delete without name",
        lambda stub: stub.DeleteModel(config_service_pb2.DeleteModelRequest()),
        "name",
    ),
    (
        "negative page size",
        lambda stub: stub.ListModels(config_service_pb2.ListModelsRequest(page_size=-1)),
        "page_size",
    ),
    (
        "bad models token",
        lambda stub: stub.ListModels(config_service_pb2.ListModelsRequest(page_token="x!")),
        "page_token",
    ),
    (
        "bad features token",
        lambda stub: stub.ListFeatureSettings(
            config_service_pb2.ListFeatureSettingsRequest(page_token="bW9kZWxzOmE=")
        ),
        "page_token",
    ),
    ("negative known version", _watch_negative, "known_version"),
]


@pytest.mark.parametrize(
    ("call", "field"), [case[1:] for case in _INVALID], ids=[c[0] for c in _INVALID]
)
async def test_invalid_requests_name_the_field(
    stub: ConfigServiceAsyncStub,
    call: Callable[[ConfigServiceAsyncStub], Awaitable[Any]],
    field: str,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call(stub)

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (raised.value.details() or "")
    assert from_rpc_error(raised.value).field == field
    # Still serving, and nothing was stored.
    listed = await stub.ListModels(config_service_pb2.ListModelsRequest())
    assert list(listed.models) == []
    assert await _current_version(stub) == 1


async def test_models_page_through_in_name_order(stub: ConfigServiceAsyncStub) -> None:
    names = ["e", "a", "d", "c", "b"]
    for name in names:
        await stub.CreateModel(model_request(name))

    pages: list[list[str]] = []
    token = ""
    while True:
        page = await stub.ListModels(
            config_service_pb2.ListModelsRequest(page_size=2, page_token=token)
        )
        pages.append([model.name for model in page.models])
        token = page.next_page_token
        if not token:
            break

    assert pages == [["a", "b"], ["c", "d"], ["e"]]
    everything = await stub.ListModels(config_service_pb2.ListModelsRequest(page_size=0))
    assert [model.name for model in everything.models] == sorted(names)
    assert everything.next_page_token == ""


async def test_feature_settings_page_through_in_feature_order(
    stub: ConfigServiceAsyncStub,
) -> None:
    await stub.CreateModel(model_request("a"))
    for feature in ("duo_chat", "code_generations", "code_completions"):
        await stub.SetFeatureSetting(feature_request(feature, "a"))

    first = await stub.ListFeatureSettings(
        config_service_pb2.ListFeatureSettingsRequest(page_size=2)
    )
    second = await stub.ListFeatureSettings(
        config_service_pb2.ListFeatureSettingsRequest(page_size=2, page_token=first.next_page_token)
    )

    assert [s.feature for s in first.feature_settings] == ["code_completions", "code_generations"]
    assert [s.feature for s in second.feature_settings] == ["duo_chat"]
    assert second.next_page_token == ""
    with pytest.raises(grpc.aio.AioRpcError) as foreign:
        await stub.ListModels(
            config_service_pb2.ListModelsRequest(page_token=first.next_page_token)
        )
    assert from_rpc_error(foreign.value).field == "page_token"


async def test_watchers_get_the_snapshot_then_every_change(stub: ConfigServiceAsyncStub) -> None:
    first = stub.WatchConfig(config_service_pb2.WatchConfigRequest(known_version=0))
    second = stub.WatchConfig(config_service_pb2.WatchConfigRequest(known_version=0))
    try:
        initial = [await _read(first), await _read(second)]
        assert [snapshot.version for snapshot in initial] == [1, 1]

        created = await stub.CreateModel(model_request("a"))
        changed = [await _read(first), await _read(second)]
        assert [snapshot.version for snapshot in changed] == [created.version] * 2
        assert [m.name for m in changed[0].models] == ["a"]

        setting = await stub.SetFeatureSetting(feature_request("duo_chat", "a"))
        latest = await _read(first)
        assert latest.version == setting.version
        assert list(latest.feature_settings) == [setting.feature_setting]
    finally:
        first.cancel()
        second.cancel()


async def test_watch_from_the_current_version_waits_for_a_change(
    stub: ConfigServiceAsyncStub,
) -> None:
    current = await _current_version(stub)
    call = stub.WatchConfig(config_service_pb2.WatchConfigRequest(known_version=current))
    try:
        reader = asyncio.create_task(call.read())
        done, _ = await asyncio.wait({reader}, timeout=0.3)
        assert not done, "a snapshot the caller already has was sent"

        created = await stub.CreateModel(model_request("a"))
        response = await asyncio.wait_for(reader, 1.0)
        assert isinstance(response, config_service_pb2.WatchConfigResponse)
        assert response.snapshot.version == created.version == current + 1
    finally:
        call.cancel()


async def test_concurrent_writers_get_distinct_consecutive_versions(
    stub: ConfigServiceAsyncStub,
) -> None:
    start = await _current_version(stub)

    responses = await asyncio.gather(
        *(stub.CreateModel(model_request(f"model-{i:02d}")) for i in range(20))
    )

    assert sorted(r.version for r in responses) == list(range(start + 1, start + 21))
    assert await _current_version(stub) == start + 20
    listed = await stub.ListModels(config_service_pb2.ListModelsRequest())
    assert len(listed.models) == 20
