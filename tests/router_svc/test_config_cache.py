from __future__ import annotations

import grpc
import pytest

from aigw.config.v1 import config_service_pb2
from aigw_common.errors import FeatureUnavailable
from router_svc.config_cache import ConfigCache


def _snapshot(
    version: int, *settings: config_service_pb2.FeatureSetting
) -> config_service_pb2.ConfigSnapshot:
    models = [config_service_pb2.Model(name=n, family="codestral") for n in ("a", "b")]
    return config_service_pb2.ConfigSnapshot(
        version=version, models=models, feature_settings=list(settings)
    )


@pytest.fixture
async def cache() -> ConfigCache:
    # Never started: these tests feed snapshots directly, as the watch would.
    return ConfigCache(grpc.aio.insecure_channel("127.0.0.1:1"))


async def test_models_come_back_in_order_of_preference(cache: ConfigCache) -> None:
    cache.apply(
        _snapshot(
            1, config_service_pb2.FeatureSetting(feature="code_completions", models=["b", "a"])
        )
    )
    assert [m.name for m in cache.models_for("code_completions")] == ["b", "a"]
    assert cache.ready.is_set()


async def test_unassigned_and_disabled_features_are_refused_not_rerouted(
    cache: ConfigCache,
) -> None:
    cache.apply(_snapshot(2, config_service_pb2.FeatureSetting(feature="duo_chat", disabled=True)))
    with pytest.raises(FeatureUnavailable, match="no model configured"):
        cache.models_for("code_completions")
    with pytest.raises(FeatureUnavailable):
        cache.models_for("duo_chat")


async def test_an_older_snapshot_never_replaces_a_newer_one(cache: ConfigCache) -> None:
    new = config_service_pb2.FeatureSetting(feature="code_completions", models=["a"])
    old = config_service_pb2.FeatureSetting(feature="code_completions", models=["b"])
    cache.apply(_snapshot(5, new))
    cache.apply(_snapshot(4, old))
    assert cache.version == 5
    assert [m.name for m in cache.models_for("code_completions")] == ["a"]
