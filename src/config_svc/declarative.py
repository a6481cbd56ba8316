"""ApplyConfig: the changes that make the stored configuration equal a declared one.

The plan is computed inside the write transaction from the configuration as it is there, so the
listed changes are exactly the ones made. Models are compared field by field (any field
ModelTarget gains is compared too); an API key is compared by opening the stored sealed key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from google.protobuf import text_format
from google.protobuf.message import Message

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2
from aigw_common.platforms import platform_name
from config_svc.database import Database
from config_svc.store import _delete_model, _insert_model, _replace_feature_setting

MODEL = "model"
FEATURE = "feature"
# ModelTarget fields that are not compared: they mirror the model or are compared separately.
_TARGET_SKIPPED = frozenset({"name", "family", "sealed_api_key"})

_ADD = config_service_pb2.CHANGE_ACTION_ADD
_UPDATE = config_service_pb2.CHANGE_ACTION_UPDATE
_REMOVE = config_service_pb2.CHANGE_ACTION_REMOVE

# Whether a stored sealed key holds this plain key.
SameKey = Callable[[bytes, str], bool]
Seal = Callable[[str], bytes]


@dataclass
class Plan:
    """The changes, in the order they are listed."""

    changes: list[config_service_pb2.ConfigChange] = field(default_factory=list)

    def describe(self) -> tuple[str, ...]:
        return tuple(describe(change) for change in self.changes)


def describe(change: config_service_pb2.ConfigChange) -> str:
    """One line for people: `update model codestral: endpoint: a -> b`."""
    action = config_service_pb2.ChangeAction.Name(change.action).removeprefix("CHANGE_ACTION_")
    text = f"{action.lower()} {change.kind} {change.name}"
    return f"{text}: {'; '.join(change.details)}" if change.details else text


def apply(
    conn: Database,
    current: config_service_pb2.ConfigSnapshot,
    declared: Sequence[config_service_pb2.DeclaredModel],
    settings: Sequence[config_service_pb2.FeatureSetting],
    *,
    same_key: SameKey,
    seal: Seal,
) -> Plan:
    """Make the configuration in `conn` (now `current`) equal the declared one; the plan."""
    plan = Plan()
    stored = {model.name: model for model in current.models}
    wanted = {item.model.name: item for item in declared}
    replace: list[config_service_pb2.Model] = []
    for name in sorted(wanted):
        item = wanted[name]
        old = stored.get(name)
        new = _stored_form(item, old, same_key=same_key, seal=seal)
        if old is None:
            plan.changes.append(_change(_ADD, MODEL, name, summary(new)))
            replace.append(new)
        elif details := _model_differences(old, new):
            plan.changes.append(_change(_UPDATE, MODEL, name, details))
            replace.append(new)
    removed = sorted(set(stored) - set(wanted))
    plan.changes.extend(_change(_REMOVE, MODEL, name, []) for name in removed)

    old_settings = {s.feature: s for s in current.feature_settings}
    new_settings = {s.feature: s for s in settings}
    for feature in sorted(set(old_settings) | set(new_settings)):
        before, after = old_settings.get(feature), new_settings.get(feature)
        if after is None:
            plan.changes.append(_change(_REMOVE, FEATURE, feature, []))
        elif before is None:
            plan.changes.append(_change(_ADD, FEATURE, feature, [_setting(after)]))
        elif _setting(before) != _setting(after):
            detail = f"{_setting(before)} -> {_setting(after)}"
            plan.changes.append(_change(_UPDATE, FEATURE, feature, [detail]))
    if plan.changes:
        _write(conn, replace, [*removed, *(m.name for m in replace if m.name in stored)], settings)
    return plan


def _write(
    conn: Database,
    models: list[config_service_pb2.Model],
    deleted: list[str],
    settings: Sequence[config_service_pb2.FeatureSetting],
) -> None:
    # Feature settings go first (they reference models) and come back last, checked against
    # the models as declared.
    conn.execute("DELETE FROM feature_setting_models")
    conn.execute("DELETE FROM feature_settings")
    for name in deleted:
        _delete_model(conn, name)
    for model in models:
        _insert_model(conn, model)
    for setting in settings:
        _replace_feature_setting(conn, setting)


def _stored_form(
    item: config_service_pb2.DeclaredModel,
    old: config_service_pb2.Model | None,
    *,
    same_key: SameKey,
    seal: Seal,
) -> config_service_pb2.Model:
    model = config_service_pb2.Model()
    model.CopyFrom(item.model)
    model.target.name = model.name
    model.target.family = model.family
    sealed = b""
    if item.api_key:
        stored = old.target.sealed_api_key if old is not None else b""
        # Sealing is randomised: keep the stored blob when it holds the same key.
        sealed = stored if stored and same_key(stored, item.api_key) else seal(item.api_key)
    model.target.sealed_api_key = sealed
    return model


def _model_differences(old: config_service_pb2.Model, new: config_service_pb2.Model) -> list[str]:
    details = []
    if old.family != new.family:
        details.append(f"family: {old.family} -> {new.family}")
    for descriptor in common_pb2.ModelTarget.DESCRIPTOR.fields:
        if descriptor.name in _TARGET_SKIPPED:
            continue
        before = _show(getattr(old.target, descriptor.name), descriptor.name)
        after = _show(getattr(new.target, descriptor.name), descriptor.name)
        if before != after:
            details.append(f"{descriptor.name}: {before} -> {after}")
    if old.target.sealed_api_key != new.target.sealed_api_key:
        details.append("api_key: changed")
    if old.api_key_env != new.api_key_env:
        details.append(f"api_key_env: {old.api_key_env or '-'} -> {new.api_key_env or '-'}")
    return details


def _show(value: object, name: str) -> str:
    if isinstance(value, Message):
        return "{" + text_format.MessageToString(value, as_one_line=True) + "}"
    if name == "platform" and isinstance(value, int):
        return platform_name(value) or "unspecified"
    return str(value) if value != "" else "-"


def summary(model: config_service_pb2.Model) -> list[str]:
    target = model.target
    return [
        f"family: {model.family}",
        f"platform: {_show(target.platform, 'platform')}",
        f"endpoint: {target.endpoint}",
        f"identifier: {target.identifier}",
    ]


def _setting(setting: config_service_pb2.FeatureSetting) -> str:
    return "disabled" if setting.disabled else ", ".join(setting.models)


def _change(
    action: config_service_pb2.ChangeAction.ValueType, kind: str, name: str, details: list[str]
) -> config_service_pb2.ConfigChange:
    return config_service_pb2.ConfigChange(action=action, kind=kind, name=name, details=details)
