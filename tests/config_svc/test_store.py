from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from google.protobuf import duration_pb2

from aigw.config.v1 import config_service_pb2
from aigw_common.errors import AlreadyExists, FailedPrecondition, NotFound
from config_svc.migrate import SchemaTooNew, head_revision
from config_svc.store import ConfigStore
from tests.config_svc.support import model_request


def _model(name: str) -> config_service_pb2.Model:
    model = model_request(name).model
    model.target.name = name
    model.target.family = model.family
    return model


def _setting(
    feature: str, *models: str, disabled: bool = False
) -> config_service_pb2.FeatureSetting:
    return config_service_pb2.FeatureSetting(feature=feature, models=models, disabled=disabled)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "config.sqlite3"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[ConfigStore]:
    opened = await ConfigStore.open(db_path)
    yield opened
    await opened.close()


async def test_fresh_store_is_migrated_in_wal_mode_at_version_one(
    store: ConfigStore, db_path: Path
) -> None:
    snapshot = await store.load_snapshot()

    assert snapshot == config_service_pb2.ConfigSnapshot(version=1)
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == (
            head_revision()
        )
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


async def test_a_database_from_a_newer_release_is_refused(db_path: Path) -> None:
    await (await ConfigStore.open(db_path)).close()
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.close()

    with pytest.raises(SchemaTooNew):
        await ConfigStore.open(db_path)


async def test_every_change_bumps_the_version_by_one(store: ConfigStore) -> None:
    versions = [
        await store.create_model(_model("a")),
        await store.create_model(_model("b")),
        await store.set_feature_setting(_setting("code_completions", "b", "a")),
        await store.set_feature_setting(_setting("code_completions", disabled=True)),
        await store.delete_model("a"),
    ]

    assert versions == [2, 3, 4, 5, 6]
    snapshot = await store.load_snapshot()
    assert snapshot.version == 6
    assert [m.name for m in snapshot.models] == ["b"]
    assert list(snapshot.feature_settings) == [_setting("code_completions", disabled=True)]


async def test_models_round_trip_with_limits_and_sealed_key(store: ConfigStore) -> None:
    with_timeout = _model("with-timeout")
    with_timeout.target.sealed_api_key = b"sealed"
    with_timeout.target.limits.timeout.CopyFrom(duration_pb2.Duration(seconds=30, nanos=5))
    without_timeout = _model("without-timeout")
    await store.create_model(with_timeout)
    await store.create_model(without_timeout)

    models = await store.list_models(after="", limit=10)

    assert models == [with_timeout, without_timeout]
    assert not models[1].target.limits.HasField("timeout")


async def test_feature_settings_keep_model_order_and_replace_whole(store: ConfigStore) -> None:
    for name in ("a", "b", "c"):
        await store.create_model(_model(name))
    await store.set_feature_setting(_setting("duo_chat", "c", "a", "b"))
    await store.set_feature_setting(_setting("code_generations", "a"))
    await store.set_feature_setting(_setting("duo_chat", "b", "c"))

    settings = await store.list_feature_settings(after="", limit=10)

    assert settings == [_setting("code_generations", "a"), _setting("duo_chat", "b", "c")]
    assert await store.list_feature_settings(after="code_generations", limit=10) == [
        _setting("duo_chat", "b", "c")
    ]


async def test_failed_changes_leave_data_and_version_alone(store: ConfigStore) -> None:
    await store.create_model(_model("a"))
    await store.set_feature_setting(_setting("duo_chat", "a"))
    await store.set_feature_setting(_setting("code_generations", "a"))
    before = await store.load_snapshot()

    with pytest.raises(AlreadyExists):
        await store.create_model(_model("a"))
    with pytest.raises(NotFound):
        await store.delete_model("nope")
    with pytest.raises(FailedPrecondition) as in_use:
        await store.delete_model("a")
    with pytest.raises(FailedPrecondition) as unknown:
        await store.set_feature_setting(_setting("duo_chat", "a", "ghost"))

    assert "code_generations" in in_use.value.message
    assert "duo_chat" in in_use.value.message
    assert unknown.value.field == "feature_setting.models"
    assert "ghost" in unknown.value.message
    assert await store.load_snapshot() == before


async def test_reopening_keeps_everything(db_path: Path) -> None:
    first = await ConfigStore.open(db_path)
    await first.create_model(_model("a"))
    await first.set_feature_setting(_setting("duo_chat", "a"))
    before = await first.load_snapshot()
    await first.close()

    second = await ConfigStore.open(db_path)
    try:
        assert await second.load_snapshot() == before
        changed = await second.set_feature_setting(_setting("duo_chat", disabled=True))
        assert changed == before.version + 1
    finally:
        await second.close()
