"""The router's entry point into the prompt registry (aigw_prompts)."""

from __future__ import annotations

from aigw.modelproxy.v1 import model_proxy_service_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common.catalog import Feature
from aigw_prompts import PreparedPrompt, prepare

__all__ = ["PreparedPrompt", "prepare", "render"]


def render(
    feature: Feature, completion: router_service_pb2.Completion, family: str
) -> model_proxy_service_pb2.Generation:
    """The generation (without its target) that asks `family` for `feature`."""
    return prepare(feature, completion, family).generation
