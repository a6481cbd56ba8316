"""Administration: scopes, optimistic concurrency, the audit trail, declarative apply."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from aigw.config.v1 import config_service_pb2
from aigw_common import scopes
from aigw_common.settings import Settings
from tests.auth_support import bearer
from tests.config_svc.support import (
    RunningService,
    feature_request,
    model_request,
    running_service,
)


def _declared(name: str, family: str, api_key: str = "") -> config_service_pb2.DeclaredModel:
    return config_service_pb2.DeclaredModel(
        model=model_request(name, family=family).model, api_key=api_key
    )


def _setting(feature: str, *models: str) -> config_service_pb2.FeatureSetting:
    return config_service_pb2.FeatureSetting(feature=feature, models=models)


async def _code(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value.code()


async def test_changes_need_the_admin_scope_and_reads_the_read_scope(
    service: RunningService,
) -> None:
    stub = service.stub
    reader = bearer(service.issuer, scopes.CONFIG_READ)
    chat_user = bearer(service.issuer, "duo_chat")
    no_token = [("authorization", "")]
    assert await _code(stub.CreateModel(model_request(), metadata=no_token)) == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    for metadata in (reader, chat_user):
        assert await _code(stub.CreateModel(model_request(), metadata=metadata)) == (
            grpc.StatusCode.PERMISSION_DENIED
        )
    assert await _code(
        stub.ListAuditEvents(config_service_pb2.ListAuditEventsRequest(), metadata=reader)
    ) == (grpc.StatusCode.PERMISSION_DENIED)
    assert await _code(
        stub.ListModels(config_service_pb2.ListModelsRequest(), metadata=chat_user)
    ) == (grpc.StatusCode.PERMISSION_DENIED)
    # The read scope reads and watches.
    await stub.ListModels(config_service_pb2.ListModelsRequest(), metadata=reader)
    await stub.GetConfig(config_service_pb2.GetConfigRequest(), metadata=reader)
    watch = stub.WatchConfig(config_service_pb2.WatchConfigRequest(), metadata=reader)
    first = await asyncio.wait_for(watch.read(), 2)
    assert isinstance(first, config_service_pb2.WatchConfigResponse)
    assert first.snapshot.version >= 1
    watch.cancel()
    # Nothing was changed by the refused calls.
    assert not (await stub.ListModels(config_service_pb2.ListModelsRequest())).models


async def test_a_model_whose_family_cannot_serve_the_feature_is_refused(
    service: RunningService,
) -> None:
    stub = service.stub
    await stub.CreateModel(model_request("sonnet", family="claude_3"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SetFeatureSetting(feature_request("code_completions", "sonnet"))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    details = caught.value.details() or ""
    assert "'sonnet' is of family 'claude_3', which cannot serve code_completions" in details
    assert "families that can: codegemma, codellama, codestral, deepseekcoder" in details
    # Chat-capable beyond GitLab's table: allowed.
    await stub.SetFeatureSetting(feature_request("generate_commit_message", "sonnet"))


async def test_a_stale_update_is_refused_never_lost(service: RunningService) -> None:
    stub = service.stub
    await stub.CreateModel(model_request("a"))
    await stub.CreateModel(model_request("b"))
    base = (await stub.GetConfig(config_service_pb2.GetConfigRequest())).snapshot.version
    # Two writers read the same version and both try to change the same feature at once.
    first = feature_request("code_completions", "a")
    second = feature_request("code_completions", "b")
    first.expected_version = second.expected_version = base
    results = await asyncio.gather(
        stub.SetFeatureSetting(first), stub.SetFeatureSetting(second), return_exceptions=True
    )
    wins = [r for r in results if isinstance(r, config_service_pb2.SetFeatureSettingResponse)]
    losses = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(wins) == 1
    assert len(losses) == 1
    assert losses[0].code() == grpc.StatusCode.ABORTED
    assert f"changed since version {base}" in (losses[0].details() or "")
    snapshot = (await stub.GetConfig(config_service_pb2.GetConfigRequest())).snapshot
    assert snapshot.version == base + 1
    assert list(snapshot.feature_settings[0].models) == list(wins[0].feature_setting.models)
    # The loser re-reads and retries: its change lands after the winner's.
    retry = feature_request("code_completions", "a", "b")
    retry.expected_version = snapshot.version
    assert (await stub.SetFeatureSetting(retry)).version == base + 2


async def test_the_audit_trail_says_who_changed_what_and_when(service: RunningService) -> None:
    stub = service.stub
    alice = bearer(service.issuer, scopes.ADMIN, subject="alice")
    bob = bearer(service.issuer, scopes.ADMIN, subject="bob")
    await stub.CreateModel(model_request("a"), metadata=alice)
    await stub.SetFeatureSetting(feature_request("code_completions", "a"), metadata=bob)
    await stub.SetFeatureSetting(feature_request("duo_chat", disabled=True), metadata=bob)
    first = await stub.ListAuditEvents(config_service_pb2.ListAuditEventsRequest(page_size=2))
    rest = await stub.ListAuditEvents(
        config_service_pb2.ListAuditEventsRequest(page_size=2, page_token=first.next_page_token)
    )
    events = [*first.events, *rest.events]
    assert not rest.next_page_token
    assert [(e.subject, e.method) for e in events] == [
        ("bob", "SetFeatureSetting"),
        ("bob", "SetFeatureSetting"),
        ("alice", "CreateModel"),
    ]
    assert list(events[0].changes) == ["set feature duo_chat: disabled"]
    assert list(events[1].changes) == ["set feature code_completions: a"]
    assert events[2].changes[0].startswith("add model a: family: codestral")
    assert [e.version for e in events] == sorted((e.version for e in events), reverse=True)
    assert all(e.time.seconds > 0 for e in events)


async def test_apply_makes_the_configuration_equal_the_declared_one(
    service: RunningService,
) -> None:
    stub = service.stub
    await stub.CreateModel(model_request("old"))
    await stub.SetFeatureSetting(feature_request("code_generations", "old"))
    request = config_service_pb2.ApplyConfigRequest(
        models=[_declared("codestral", "codestral", "key-1"), _declared("mixtral", "mixtral")],
        feature_settings=[
            _setting("code_completions", "codestral"),
            _setting("duo_chat", "mixtral"),
        ],
        validate_only=True,
    )
    preview = await stub.ApplyConfig(request)
    lines = sorted(
        f"{config_service_pb2.ChangeAction.Name(c.action)} {c.kind} {c.name}"
        for c in preview.changes
    )
    assert lines == [
        "CHANGE_ACTION_ADD feature code_completions",
        "CHANGE_ACTION_ADD feature duo_chat",
        "CHANGE_ACTION_ADD model codestral",
        "CHANGE_ACTION_ADD model mixtral",
        "CHANGE_ACTION_REMOVE feature code_generations",
        "CHANGE_ACTION_REMOVE model old",
    ]
    # validate_only changed nothing.
    unchanged = (await stub.GetConfig(config_service_pb2.GetConfigRequest())).snapshot
    assert unchanged.version == preview.version
    assert [m.name for m in unchanged.models] == ["old"]

    request.validate_only = False
    request.expected_version = preview.version
    applied = await stub.ApplyConfig(request)
    assert applied.version == preview.version + 1
    snapshot = (await stub.GetConfig(config_service_pb2.GetConfigRequest())).snapshot
    assert [m.name for m in snapshot.models] == ["codestral", "mixtral"]
    assert {s.feature: list(s.models) for s in snapshot.feature_settings} == {
        "code_completions": ["codestral"],
        "duo_chat": ["mixtral"],
    }
    assert service.box.open(snapshot.models[0].target.sealed_api_key) == "key-1"

    # The same file again: nothing to do, no new version (the same key is recognised).
    request.expected_version = 0
    again = await stub.ApplyConfig(request)
    assert not again.changes
    assert again.version == applied.version

    # One field and the key change: exactly that is reported, the key never shown.
    request.models[0].model.target.endpoint = "http://other:8000/v1"
    request.models[0].api_key = "key-2"
    changed = await stub.ApplyConfig(request)
    [change] = changed.changes
    assert change.name == "codestral"
    assert list(change.details) == [
        "endpoint: http://vllm:8000/v1 -> http://other:8000/v1",
        "api_key: changed",
    ]
    assert "key-2" not in str(changed)

    # A stale apply is refused.
    request.expected_version = applied.version
    assert await _code(stub.ApplyConfig(request)) == grpc.StatusCode.ABORTED


async def test_apply_refuses_a_bad_file_as_a_whole(service: RunningService) -> None:
    stub = service.stub
    await stub.CreateModel(model_request("keep"))
    bad_family = config_service_pb2.ApplyConfigRequest(
        models=[_declared("sonnet", "claude_3")],
        feature_settings=[_setting("code_completions", "sonnet")],
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ApplyConfig(bad_family)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "families that can" in (caught.value.details() or "")
    duplicate = config_service_pb2.ApplyConfigRequest(
        models=[_declared("a", "codestral"), _declared("a", "mistral")]
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ApplyConfig(duplicate)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (caught.value.details() or "").startswith("models[1].model.name")
    unknown = config_service_pb2.ApplyConfigRequest(
        feature_settings=[_setting("code_completions", "missing")]
    )
    assert await _code(stub.ApplyConfig(unknown)) == grpc.StatusCode.FAILED_PRECONDITION
    snapshot = (await stub.GetConfig(config_service_pb2.GetConfigRequest())).snapshot
    assert [m.name for m in snapshot.models] == ["keep"]


async def test_audit_trail_and_key_references_survive_a_restart(settings: Settings) -> None:
    async with running_service(settings) as first:
        declared = _declared("c", "codestral", "secret")
        declared.model.api_key_env = "VLLM_KEY"
        await first.stub.ApplyConfig(config_service_pb2.ApplyConfigRequest(models=[declared]))
    async with running_service(settings) as second:
        events = await second.stub.ListAuditEvents(config_service_pb2.ListAuditEventsRequest())
        snapshot = (await second.stub.GetConfig(config_service_pb2.GetConfigRequest())).snapshot
    assert [(e.subject, e.method) for e in events.events] == [("tester", "ApplyConfig")]
    assert snapshot.models[0].api_key_env == "VLLM_KEY"
    assert second.box.open(snapshot.models[0].target.sealed_api_key) == "secret"
