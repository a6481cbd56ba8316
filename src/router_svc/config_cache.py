"""The router's local copy of the configuration, fed by config_svc's watch.

Resolution of feature -> model happens here, in memory, on the hot path. config_svc being down
does not stop traffic: the last snapshot received keeps serving, and the watch reconnects with
backoff, asking only for versions newer than the one it has.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import grpc
import structlog

from aigw.config.v1 import config_service_pb2, config_service_pb2_grpc
from aigw_common.errors import FeatureUnavailable

_log = structlog.get_logger(__name__)

_MIN_BACKOFF_S = 0.1
_MAX_BACKOFF_S = 2.0


@dataclass(frozen=True)
class _Resolved:
    """The configuration indexed for lookups; replaced whole on every snapshot."""

    version: int = 0
    models: dict[str, config_service_pb2.Model] = field(default_factory=dict)
    features: dict[str, config_service_pb2.FeatureSetting] = field(default_factory=dict)
    request_logging: bool = False


class ConfigCache:
    """Watches config_svc and answers which models serve a feature."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        # The channel carries the router's service token (service_token_interceptors).
        self._stub = config_service_pb2_grpc.ConfigServiceStub(channel)
        self._current = _Resolved()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def version(self) -> int:
        return self._current.version

    @property
    def request_logging(self) -> bool:
        """Whether the operator switched expanded logging on at runtime (`aigw logging`)."""
        return self._current.request_logging

    @property
    def ready(self) -> asyncio.Event:
        """Set once the first snapshot has arrived."""
        return self._ready

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch_forever(), name="config-watch")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def current(
        self,
    ) -> tuple[
        Mapping[str, config_service_pb2.Model], Mapping[str, config_service_pb2.FeatureSetting]
    ]:
        """The models and feature settings in force, both from the same snapshot."""
        current = self._current
        return current.models, current.features

    def models_for(self, feature: str) -> list[config_service_pb2.Model]:
        """The models that serve `feature`, in order of preference.

        Raises FeatureUnavailable when the feature is disabled or has no model: a feature never
        quietly falls back to a model the operator did not choose for it.
        """
        current = self._current
        setting = current.features.get(feature)
        if setting is None or not setting.models:
            raise FeatureUnavailable(
                f"feature {feature!r} has no model configured; "
                f"assign one with `aigw features set {feature} MODEL`",
                metadata={"feature": feature},
            )
        if setting.disabled:
            raise FeatureUnavailable(
                f"feature {feature!r} is disabled by the operator", metadata={"feature": feature}
            )
        models = [current.models[name] for name in setting.models if name in current.models]
        if not models:
            raise FeatureUnavailable(
                f"feature {feature!r} names models that are not defined: {list(setting.models)}",
                metadata={"feature": feature},
            )
        return models

    def apply(self, snapshot: config_service_pb2.ConfigSnapshot) -> None:
        """Make `snapshot` the configuration in force (older versions are ignored)."""
        if snapshot.version <= self._current.version and self._ready.is_set():
            return
        self._current = _Resolved(
            version=snapshot.version,
            models={model.name: model for model in snapshot.models},
            features={setting.feature: setting for setting in snapshot.feature_settings},
            request_logging=snapshot.request_logging,
        )
        self._ready.set()
        _log.info("configuration applied", version=snapshot.version)

    async def _watch_forever(self) -> None:
        backoff = _MIN_BACKOFF_S
        while True:
            request = config_service_pb2.WatchConfigRequest(known_version=self._current.version)
            try:
                async for response in self._stub.WatchConfig(request, wait_for_ready=True):
                    self.apply(response.snapshot)
                    backoff = _MIN_BACKOFF_S
            except grpc.aio.AioRpcError as error:
                _log.warning(
                    "configuration watch interrupted; serving the last configuration",
                    error=f"{error.code().name}: {error.details()}",
                    version=self._current.version,
                    retry_in_s=backoff,
                )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_S)
