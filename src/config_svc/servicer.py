"""ConfigService: validates requests, seals API keys, persists changes and pushes snapshots."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2, config_service_pb2_grpc
from aigw_common.request_context import current_caller
from config_svc import declarative, paging, validation
from config_svc.broadcast import SnapshotBroadcast
from config_svc.database import Database
from config_svc.store import AuditEntry, ConfigStore, Mutation

if TYPE_CHECKING:
    from aigw_common.grpc_types import Context
    from aigw_common.secrets_box import SecretsBox

_log = structlog.get_logger(__name__)

# What each listing's page tokens are tagged with, so one cannot be replayed on the other.
_MODELS_LISTING = "models"
_FEATURES_LISTING = "features"
_AUDIT_LISTING = "audit"
_R = TypeVar("_R")


class ConfigServiceServicer(config_service_pb2_grpc.ConfigServiceServicer):
    """The aigw.config.v1.ConfigService RPCs over a ConfigStore and a SnapshotBroadcast."""

    def __init__(
        self,
        store: ConfigStore,
        broadcast: SnapshotBroadcast,
        box: SecretsBox,
    ) -> None:
        self._store = store
        self._broadcast = broadcast
        self._box = box
        self._committing: set[asyncio.Task[int]] = set()

    async def CreateModel(
        self, request: config_service_pb2.CreateModelRequest, context: Context
    ) -> config_service_pb2.CreateModelResponse:
        validation.check_create_model(request)
        validation.check_expected_version(request.expected_version)
        source = request.model
        model = config_service_pb2.Model(
            name=source.name,
            family=source.family,
            api_key_env=source.api_key_env,
            target=common_pb2.ModelTarget(
                name=source.name,
                family=source.family,
                platform=source.target.platform,
                endpoint=source.target.endpoint,
                identifier=source.target.identifier,
                sealed_api_key=self._box.seal(request.api_key) if request.api_key else b"",
                limits=source.target.limits,
                completion_api=source.target.completion_api,
            ),
        )
        options = source.target.WhichOneof("platform_options")
        if options is not None:
            getattr(model.target, options).CopyFrom(getattr(source.target, options))
        change = declarative.describe(
            config_service_pb2.ConfigChange(
                action=config_service_pb2.CHANGE_ACTION_ADD,
                kind=declarative.MODEL,
                name=model.name,
                details=declarative.summary(model),
            )
        )
        mutation = _mutation("CreateModel", request.expected_version, change)
        version = await self._commit(self._store.create_model(model, mutation))
        _log.info(
            "model created",
            model=model.name,
            family=model.family,
            platform=common_pb2.Platform.Name(model.target.platform),
            has_api_key=bool(request.api_key),
            subject=_subject(),
            version=version,
        )
        return config_service_pb2.CreateModelResponse(model=model, version=version)

    async def DeleteModel(
        self, request: config_service_pb2.DeleteModelRequest, context: Context
    ) -> config_service_pb2.DeleteModelResponse:
        validation.check_model_name(request.name, field="name")
        validation.check_expected_version(request.expected_version)
        options = _mutation("DeleteModel", request.expected_version, f"remove model {request.name}")
        version = await self._commit(self._store.delete_model(request.name, options))
        _log.info("model deleted", model=request.name, subject=_subject(), version=version)
        return config_service_pb2.DeleteModelResponse(version=version)

    async def ListModels(
        self, request: config_service_pb2.ListModelsRequest, context: Context
    ) -> config_service_pb2.ListModelsResponse:
        size = paging.page_size(request.page_size)
        after = paging.decode_token(_MODELS_LISTING, request.page_token)
        models = await self._store.list_models(after=after, limit=size + 1)
        next_token = ""
        if len(models) > size:
            models = models[:size]
            next_token = paging.encode_token(_MODELS_LISTING, models[-1].name)
        return config_service_pb2.ListModelsResponse(models=models, next_page_token=next_token)

    async def SetFeatureSetting(
        self, request: config_service_pb2.SetFeatureSettingRequest, context: Context
    ) -> config_service_pb2.SetFeatureSettingResponse:
        validation.check_feature_setting(request.feature_setting)
        validation.check_expected_version(request.expected_version)
        source = request.feature_setting
        setting = config_service_pb2.FeatureSetting(
            feature=source.feature, models=source.models, disabled=source.disabled
        )
        shown = "disabled" if setting.disabled else ", ".join(setting.models)
        options = _mutation(
            "SetFeatureSetting", request.expected_version, f"set feature {setting.feature}: {shown}"
        )
        version = await self._commit(self._store.set_feature_setting(setting, options))
        _log.info(
            "feature setting changed",
            feature=setting.feature,
            models=list(setting.models),
            disabled=setting.disabled,
            subject=_subject(),
            version=version,
        )
        return config_service_pb2.SetFeatureSettingResponse(
            feature_setting=setting, version=version
        )

    async def SetRequestLogging(
        self, request: config_service_pb2.SetRequestLoggingRequest, context: Context
    ) -> config_service_pb2.SetRequestLoggingResponse:
        state = "on" if request.enabled else "off"
        options = _mutation("SetRequestLogging", 0, f"set request logging: {state}")
        version = await self._commit(self._store.set_request_logging(request.enabled, options))
        _log.info("request logging switched", enabled=request.enabled, subject=_subject())
        return config_service_pb2.SetRequestLoggingResponse(
            enabled=request.enabled, version=version
        )

    async def ListFeatureSettings(
        self, request: config_service_pb2.ListFeatureSettingsRequest, context: Context
    ) -> config_service_pb2.ListFeatureSettingsResponse:
        size = paging.page_size(request.page_size)
        after = paging.decode_token(_FEATURES_LISTING, request.page_token)
        settings = await self._store.list_feature_settings(after=after, limit=size + 1)
        next_token = ""
        if len(settings) > size:
            settings = settings[:size]
            next_token = paging.encode_token(_FEATURES_LISTING, settings[-1].feature)
        return config_service_pb2.ListFeatureSettingsResponse(
            feature_settings=settings, next_page_token=next_token
        )

    async def ApplyConfig(
        self, request: config_service_pb2.ApplyConfigRequest, context: Context
    ) -> config_service_pb2.ApplyConfigResponse:
        validation.check_apply_config(request)

        def work(conn: Database, current: config_service_pb2.ConfigSnapshot) -> declarative.Plan:
            return declarative.apply(
                conn,
                current,
                request.models,
                request.feature_settings,
                same_key=self._same_key,
                seal=self._box.seal,
            )

        def changed(plan: declarative.Plan) -> AuditEntry | None:
            if not plan.changes:
                return None
            return AuditEntry(_subject(), "ApplyConfig", plan.describe())

        transaction = self._store.transact(
            work,
            changed,
            expected_version=request.expected_version,
            validate_only=request.validate_only,
        )
        if request.validate_only:
            plan, version = await transaction
        else:
            plan, version = await self._commit_with_result(transaction)
            if plan.changes:
                _log.info(
                    "configuration applied",
                    changes=len(plan.changes),
                    subject=_subject(),
                    version=version,
                )
        return config_service_pb2.ApplyConfigResponse(changes=plan.changes, version=version)

    async def GetConfig(
        self, request: config_service_pb2.GetConfigRequest, context: Context
    ) -> config_service_pb2.GetConfigResponse:
        return config_service_pb2.GetConfigResponse(snapshot=await self._store.load_snapshot())

    async def ListAuditEvents(
        self, request: config_service_pb2.ListAuditEventsRequest, context: Context
    ) -> config_service_pb2.ListAuditEventsResponse:
        size = paging.page_size(request.page_size)
        before = paging.decode_token(_AUDIT_LISTING, request.page_token)
        if before and not before.isdigit():
            raise paging.bad_token()
        events = await self._store.list_audit_events(before=int(before or 0), limit=size + 1)
        next_token = ""
        if len(events) > size:
            events = events[:size]
            next_token = paging.encode_token(_AUDIT_LISTING, str(events[-1].version))
        return config_service_pb2.ListAuditEventsResponse(events=events, next_page_token=next_token)

    async def WatchConfig(
        self, request: config_service_pb2.WatchConfigRequest, context: Context
    ) -> AsyncIterator[config_service_pb2.WatchConfigResponse]:
        validation.check_known_version(request.known_version)
        async for snapshot in self._broadcast.watch(request.known_version):
            yield config_service_pb2.WatchConfigResponse(snapshot=snapshot)

    def _same_key(self, sealed: bytes, api_key: str) -> bool:
        try:
            return self._box.open(sealed) == api_key
        except Exception:  # a key sealed with another sealing key: treat as changed
            return False

    async def _commit_with_result(
        self, transaction: Coroutine[Any, Any, tuple[_R, int]]
    ) -> tuple[_R, int]:
        """`_commit` for a transaction that also returns a result."""
        box: list[_R] = []

        async def mutation() -> int:
            result, version = await transaction
            box.append(result)
            return version

        version = await self._commit(mutation())
        return box[0], version

    async def _commit(self, mutation: Coroutine[Any, Any, int]) -> int:
        """Run `mutation`, then publish the snapshot it produced; return the new version.

        Shielded: once a change is under way, the caller going away must not stop it from
        committing or from reaching watchers (a committed version no watcher sees would leave
        routers stale until the next change).
        """
        task = asyncio.create_task(self._apply(mutation))
        self._committing.add(task)
        task.add_done_callback(self._finished)
        return await asyncio.shield(task)

    def _finished(self, task: asyncio.Task[int]) -> None:
        self._committing.discard(task)
        # If the caller left, nobody awaits the task: retrieve its error so it is not reported
        # as "never retrieved" (the caller that stayed has already received it).
        if not task.cancelled():
            task.exception()

    async def _apply(self, mutation: Coroutine[Any, Any, int]) -> int:
        version = await mutation
        # A concurrent writer may already have published this version or a later one.
        if self._broadcast.version < version:
            self._broadcast.publish(await self._store.load_snapshot())
        return version


def _subject() -> str:
    """Who is making the change: the subject of the caller's verified token."""
    caller = current_caller()
    return caller.subject if caller is not None else "unknown"


def _mutation(method: str, expected_version: int, change: str) -> Mutation:
    return Mutation(expected_version, AuditEntry(_subject(), method, (change,)))
