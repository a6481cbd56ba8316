"""Duo Chat's ReAct agent prompt (templates/duo_chat_agent/<family>/): the system prompt with
the offered tools, the conversation with each user turn's context, and the assistant pre-fill
that carries the steps taken so far and ends with the `Thought:` cue the model continues.

Only families with a template of their own have an agent prompt (there is no `base`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from aigw.common.v1 import common_pb2
from aigw.modelproxy.v1 import model_proxy_service_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common import catalog
from aigw_prompts.chat_mapping import map_messages
from aigw_prompts.postprocess import PostProcessing
from aigw_prompts.registry import Mode, PromptRegistry, UnknownPrompt
from aigw_prompts.rendering import PreparedPrompt, default_registry

AGENT_PROMPT = "duo_chat_agent"


class PromptTool(Protocol):
    """What the prompt says about a tool."""

    @property
    def name(self) -> str: ...
    @property
    def resource(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def example(self) -> str: ...


def agent_families(registry: PromptRegistry | None = None) -> list[str]:
    """The families that have an agent prompt."""
    keys = (registry or default_registry()).keys()
    return sorted(family for feature, family in keys if feature == AGENT_PROMPT)


def prepare_agent(
    request: router_service_pb2.StreamAgentRequest,
    tools: Sequence[PromptTool],
    family: str,
    registry: PromptRegistry | None = None,
) -> PreparedPrompt:
    """The agent's model request for `family`; UnknownPrompt when the family has none."""
    registry = registry or default_registry()
    if family not in agent_families(registry):
        raise UnknownPrompt(f"no {AGENT_PROMPT} prompt for family {family!r}")
    template = registry.get(AGENT_PROMPT, family)
    # The registry checked when loading that a react template has all three texts.
    assert template.mode is Mode.REACT
    assert template.system is not None
    assert template.user is not None
    assert template.prefill is not None
    system = template.system.render(
        tools=list(tools),
        tool_names=[tool.name for tool in tools],
        resources=[tool.resource for tool in tools],
        unavailable_resources=list(request.unavailable_resources),
    )
    messages = [common_pb2.Message(role=common_pb2.ROLE_SYSTEM, content=system)]
    for message in request.messages:
        content = message.content
        if message.role == common_pb2.ROLE_USER:
            content = template.user.render(
                content=message.content,
                page=message.page if message.HasField("page") else None,
                current_file=message.current_file if message.HasField("current_file") else None,
                additional_context=list(message.additional_context),
            )
        messages.append(common_pb2.Message(role=message.role, content=content))
    prefill = template.prefill.render(steps=list(request.steps))
    messages.append(common_pb2.Message(role=common_pb2.ROLE_ASSISTANT, content=prefill))
    params = template.parameters
    generation = model_proxy_service_pb2.Generation(
        parameters=common_pb2.GenerationParameters(
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            stop_sequences=params.stop,
            stop_token_ids=params.stop_token_ids,
        )
    )
    generation.chat.messages.extend(
        map_messages(messages, system_role=catalog.family(family).system_role)
    )
    return PreparedPrompt(generation, template.id, params.timeout_s, PostProcessing())
