"""Prompt templates kept as data: `templates/<feature>/<family>/<version>.yaml`.

A feature's `base` folder serves every family that has no folder of its own. Templates are
Jinja2, compiled once in a sandboxed environment (a template can read the variables it is given
and nothing else) with undefined variables as errors; they may `{% include %}` the shared pieces
in `templates/_partials/`. The newest version is used unless one is asked for.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import yaml
from jinja2 import FunctionLoader, StrictUndefined, Template
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aigw_prompts.postprocess import Step

BASE_FAMILY = "base"
PARTIALS_DIR = "_partials"


class Mode(enum.Enum):
    COMPLETION = "completion"  # one raw prompt, e.g. with fill-in-the-middle tokens
    CHAT = "chat"  # chat messages
    REACT = "react"  # Duo Chat's agent: system prompt, user turns, the assistant's pre-fill


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParametersSpec(_Strict):
    """Sampling parameters and the request timeout a template asks for."""

    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()
    timeout_s: float | None = Field(default=None, gt=0)


class InputSpec(_Strict):
    """How much editor text a prompt carries (code features)."""

    max_input_chars: int = Field(default=24_000, gt=0)
    suffix_share: float = Field(default=0.2, ge=0, le=1)


class _TemplateFile(_Strict):
    mode: Mode
    params: ParametersSpec = ParametersSpec()
    input: InputSpec = InputSpec()
    postprocess: tuple[Step, ...] = ()
    prompt: str | None = None
    system: str | None = None
    user: str | None = None
    prefill: str | None = None

    @model_validator(mode="after")
    def _texts_fit_mode(self) -> _TemplateFile:
        if self.mode is Mode.COMPLETION and (
            self.prompt is None or self.system or self.user or self.prefill
        ):
            raise ValueError("mode completion takes `prompt` only")
        if self.mode is Mode.CHAT and (self.prompt is not None or self.prefill is not None):
            raise ValueError("mode chat takes `system` and/or `user`, not `prompt` or `prefill`")
        if self.mode is Mode.REACT and (
            self.prompt is not None or None in (self.system, self.user, self.prefill)
        ):
            raise ValueError("mode react takes `system`, `user` and `prefill`")
        return self


@dataclass(frozen=True)
class PromptTemplate:
    """One compiled template."""

    feature: str
    family: str
    version: str
    mode: Mode
    parameters: ParametersSpec
    input: InputSpec
    postprocess: tuple[Step, ...]
    prompt: Template | None
    system: Template | None
    user: Template | None
    prefill: Template | None = None

    @property
    def id(self) -> str:
        return f"{self.feature}/{self.family}@{self.version}"


class UnknownPrompt(LookupError):
    """No template (not even `base`) for a feature, or no such version."""


class PromptRegistry:
    """Every template, by feature, family and version."""

    def __init__(self, templates: Mapping[tuple[str, str], Mapping[str, PromptTemplate]]) -> None:
        self._templates = templates

    @classmethod
    def load(cls, root: Traversable | None = None) -> PromptRegistry:
        """Compile every template under `root` (the package's templates by default)."""
        root = root or resources.files("aigw_prompts").joinpath("templates")
        partials = root.joinpath(PARTIALS_DIR)
        environment = SandboxedEnvironment(
            loader=FunctionLoader(lambda name: _partial(partials, name)),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
            # Prompts are plain text for a model, never HTML.
            autoescape=False,
        )
        templates: dict[tuple[str, str], dict[str, PromptTemplate]] = {}
        for feature_dir in _dirs(root):
            for family_dir in _dirs(feature_dir):
                versions = templates.setdefault((feature_dir.name, family_dir.name), {})
                for file in family_dir.iterdir():
                    if file.name.endswith(".yaml"):
                        version = file.name.removesuffix(".yaml")
                        versions[version] = _compile(
                            environment, feature_dir.name, family_dir.name, version, file
                        )
        return cls(templates)

    def get(self, feature: str, family: str, version: str | None = None) -> PromptTemplate:
        """The template for `feature` and `family` (else the feature's `base`), newest first."""
        versions = self._templates.get((feature, family)) or self._templates.get(
            (feature, BASE_FAMILY)
        )
        if not versions:
            raise UnknownPrompt(f"no prompt template for feature {feature!r}")
        if version is None:
            version = max(versions, key=_version_key)
        try:
            return versions[version]
        except KeyError:
            raise UnknownPrompt(
                f"no version {version!r} of the {feature!r} prompt for {family!r}"
            ) from None

    def keys(self) -> list[tuple[str, str]]:
        """Every (feature, family) that has templates of its own."""
        return sorted(self._templates)


def _dirs(parent: Traversable) -> list[Traversable]:
    return sorted(
        (d for d in parent.iterdir() if d.is_dir() and not d.name.startswith("_")),
        key=lambda d: d.name,
    )


def _partial(partials: Traversable, name: str) -> str | None:
    file = partials.joinpath(name)
    return file.read_text(encoding="utf-8") if file.is_file() else None


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _compile(
    environment: SandboxedEnvironment, feature: str, family: str, version: str, file: Traversable
) -> PromptTemplate:
    where = f"prompt template {feature}/{family}/{file.name}"
    try:
        data: Any = yaml.safe_load(file.read_text(encoding="utf-8"))
        spec = _TemplateFile.model_validate(data)
    except (yaml.YAMLError, ValidationError) as error:
        raise ValueError(f"{where}: {error}") from error

    def compiled(text: str | None) -> Template | None:
        return environment.from_string(text) if text is not None else None

    return PromptTemplate(
        feature=feature,
        family=family,
        version=version,
        mode=spec.mode,
        parameters=spec.params,
        input=spec.input,
        postprocess=spec.postprocess,
        prompt=compiled(spec.prompt),
        system=compiled(spec.system),
        user=compiled(spec.user),
        prefill=compiled(spec.prefill),
    )
