from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from aigw_common import catalog
from aigw_prompts import PromptRegistry, UnknownPrompt, default_registry


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_every_feature_has_a_template_for_every_family() -> None:
    registry = default_registry()
    for feature in catalog.FEATURES:
        for family in catalog.FAMILIES:
            assert registry.get(feature, family).feature == feature


def test_a_family_without_its_own_template_gets_the_base_and_the_newest_version(
    tmp_path: Path,
) -> None:
    _write(tmp_path, "f/base/1.0.0.yaml", "mode: chat\nuser: 'base {{ prompt }}'\n")
    _write(tmp_path, "f/gpt/1.2.0.yaml", "mode: chat\nuser: 'new'\n")
    _write(tmp_path, "f/gpt/1.10.0.yaml", "mode: chat\nuser: 'newest'\n")
    registry = PromptRegistry.load(tmp_path)
    assert registry.get("f", "mistral").id == "f/base@1.0.0"
    assert registry.get("f", "gpt").id == "f/gpt@1.10.0"
    assert registry.get("f", "gpt", "1.2.0").id == "f/gpt@1.2.0"
    with pytest.raises(UnknownPrompt):
        registry.get("f", "gpt", "9.9.9")
    with pytest.raises(UnknownPrompt):
        registry.get("other", "gpt")


def test_a_malformed_template_is_refused_naming_its_file(tmp_path: Path) -> None:
    _write(tmp_path, "f/base/1.0.0.yaml", "mode: completion\nuser: 'x'\n")
    with pytest.raises(ValueError, match=r"f/base/1.0.0.yaml"):
        PromptRegistry.load(tmp_path)
    _write(tmp_path, "f/base/1.0.0.yaml", "mode: chat\nparams: {temperature: 5}\n")
    with pytest.raises(ValueError, match="temperature"):
        PromptRegistry.load(tmp_path)


def test_templates_run_sandboxed(tmp_path: Path) -> None:
    _write(tmp_path, "f/base/1.0.0.yaml", "mode: chat\nuser: '{{ prompt.__class__.__mro__ }}'\n")
    template = PromptRegistry.load(tmp_path).get("f", "x")
    assert template.user is not None
    with pytest.raises(jinja2.exceptions.SecurityError):
        template.user.render(prompt="x")
    _write(tmp_path, "f/base/1.0.0.yaml", "mode: chat\nuser: '{{ missing }}'\n")
    template = PromptRegistry.load(tmp_path).get("f", "x")
    assert template.user is not None
    with pytest.raises(jinja2.exceptions.UndefinedError):
        template.user.render()
