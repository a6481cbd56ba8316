"""The tools Duo Chat's agent may offer (tools.yaml), and the ones one request gets.

A tool is offered when the caller's token grants its unit primitive, the caller's GitLab is
recent enough and its feature flag (if any) is on. The trial caller (authentication bypassed)
gets every tool whose flag is on, whatever its version: as GitLab's gateway treats its debug
user.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from importlib import resources

import yaml
from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict, Field


class ToolDefinition(BaseModel):
    """One tool, as tools.yaml describes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z_]*$")
    resource: str
    scope: str
    min_gitlab_version: str | None = None
    feature_flag: str | None = None
    description: str
    example: str = ""

    def min_version(self) -> Version | None:
        return Version(self.min_gitlab_version) if self.min_gitlab_version else None


class _ToolsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tools: tuple[ToolDefinition, ...]


def load_tools() -> tuple[ToolDefinition, ...]:
    """Every tool, in prompt order."""
    text = resources.files("router_svc.agent").joinpath("tools.yaml").read_text(encoding="utf-8")
    tools = _ToolsFile.model_validate(yaml.safe_load(text)).tools
    for tool in tools:
        tool.min_version()  # a bad version in the data fails at start, not per request
    return tools


TOOLS = load_tools()


@dataclass(frozen=True)
class Caller:
    """What decides which tools a request gets."""

    scopes: Collection[str]
    gitlab_version: str
    feature_flags: Collection[str]
    trial: bool = False


def offered_tools(caller: Caller, tools: Sequence[ToolDefinition] = TOOLS) -> list[ToolDefinition]:
    """The tools to offer `caller`, in prompt order."""
    version = _parse(caller.gitlab_version)
    offered = []
    for tool in tools:
        if tool.feature_flag and tool.feature_flag not in caller.feature_flags:
            continue
        if not caller.trial:
            if tool.scope not in caller.scopes:
                continue
            minimum = tool.min_version()
            if minimum is not None and (version is None or version < minimum):
                continue
        offered.append(tool)
    return offered


def _parse(version: str) -> Version | None:
    try:
        return Version(version) if version else None
    except InvalidVersion:
        return None
