"""What aigw knows about features and model families, loaded from `catalog_data/catalog.yaml`.

Scopes are GitLab's unit primitives, so tokens minted by a GitLab instance work unchanged. Which
family may serve which feature comes from GitLab's supported-models table, kept in the data file
with its support level; beyond that table, every chat-capable family may serve every text feature
(`SupportLevel.BEYOND_GITLAB`). Nothing here branches on a family's name.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from aigw_common.errors import FailedPrecondition, InvalidArgument


class FeatureKind(enum.Enum):
    CODE_COMPLETION = "code_completion"
    CODE_GENERATION = "code_generation"
    CHAT = "chat"


class SupportLevel(enum.Enum):
    """How well a family is known to serve a feature; lower values are stronger."""

    APPROVED = "approved"
    EVALUATION = "evaluation, limited support"
    BEYOND_GITLAB = "beyond GitLab: chat-capable family on a text feature"


@dataclass(frozen=True)
class Feature:
    name: str
    kind: FeatureKind
    scope: str
    title: str = ""


@dataclass(frozen=True)
class ListedModel:
    """One row of the supported-models table."""

    model: str
    serves: frozenset[FeatureKind]
    support: SupportLevel


@dataclass(frozen=True)
class Family:
    name: str
    title: str
    chat_capable: bool
    context_tokens: int
    # False for families whose chat templates reject a system role (Mistral's).
    system_role: bool
    models: tuple[ListedModel, ...]

    def support_for(self, feature: Feature) -> SupportLevel | None:
        """The strongest support any listed model gives `feature`, or None if it cannot serve it."""
        levels = [m.support for m in self.models if feature.kind in m.serves]
        if levels:
            return min(levels, key=_SUPPORT_ORDER.index)
        if self.chat_capable and feature.kind is FeatureKind.CHAT:
            return SupportLevel.BEYOND_GITLAB
        return None


_SUPPORT_ORDER = list(SupportLevel)


def _load() -> tuple[dict[str, Feature], dict[str, Family]]:
    text = resources.files("aigw_common").joinpath("catalog_data/catalog.yaml").read_text()
    data: dict[str, Any] = yaml.safe_load(text)
    features = {
        name: Feature(name, FeatureKind(spec["kind"]), spec["scope"], spec.get("title", name))
        for name, spec in data["features"].items()
    }
    families = {
        name: Family(
            name=name,
            title=spec["title"],
            chat_capable=bool(spec["chat_capable"]),
            context_tokens=int(spec["context_tokens"]),
            system_role=bool(spec["chat"]["system_role"]),
            models=tuple(
                ListedModel(
                    model=row["model"],
                    serves=frozenset(FeatureKind(kind) for kind in row["serves"]),
                    support=SupportLevel.APPROVED
                    if row["support"] == "approved"
                    else SupportLevel.EVALUATION,
                )
                for row in spec["models"]
            ),
        )
        for name, spec in data["families"].items()
    }
    return features, families


FEATURES, FAMILY_SPECS = _load()
FAMILIES = frozenset(FAMILY_SPECS)


def feature(name: str, *, field: str = "feature") -> Feature:
    """The feature called `name`, or InvalidArgument naming `field` and the known features."""
    try:
        return FEATURES[name]
    except KeyError:
        known = ", ".join(sorted(FEATURES))
        raise InvalidArgument(
            f"{field}: unknown feature {name!r}; known features: {known}", field=field
        ) from None


def check_family(name: str, *, field: str = "family") -> str:
    """`name` if it is a known model family, else InvalidArgument naming `field`."""
    if name not in FAMILIES:
        raise InvalidArgument(
            f"{field}: unknown model family {name!r}; "
            f"known families: {', '.join(sorted(FAMILIES))}",
            field=field,
        )
    return name


def family(name: str) -> Family:
    """The catalog entry of a known family (see check_family)."""
    return FAMILY_SPECS[name]


def support(family_name: str, feature_name: str) -> SupportLevel | None:
    """How `family_name` supports `feature_name`; None when it cannot serve it."""
    spec = FAMILY_SPECS.get(family_name)
    return spec.support_for(FEATURES[feature_name]) if spec is not None else None


def families_for(feature_name: str) -> list[str]:
    """The families that can serve `feature_name`, by name."""
    target = FEATURES[feature_name]
    return sorted(name for name, spec in FAMILY_SPECS.items() if spec.support_for(target))


def check_assignment(feature_name: str, model: str, family_name: str, *, field: str) -> None:
    """FailedPrecondition naming the families that can, if `model`'s family cannot serve it."""
    if support(family_name, feature_name) is not None:
        return
    able = ", ".join(families_for(feature_name))
    raise FailedPrecondition(
        f"{field}: model {model!r} is of family {family_name!r}, which cannot serve "
        f"{feature_name}; families that can: {able}",
        field=field,
        metadata={"model": model, "family": family_name, "feature": feature_name, "families": able},
    )
