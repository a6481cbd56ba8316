"""Body of GitLab's `/v2/chat/agent` (classic Duo Chat): field names as GitLab's AgentRequest;
unknown fields are accepted and ignored."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aigw_common.duo_chat_vocabulary import ContextCategory, PageType
from rest_shim.routes.prompts_schema import PromptModelMetadata


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PageContext(_Body):
    """The GitLab page the user is on."""

    type: PageType
    content: str


class AgentCurrentFile(_Body):
    file_path: str
    data: str
    selected_code: bool


class AdditionalContext(_Body):
    """Context the user attached; each category needs its own scope (include_<category>_context)."""

    category: ContextCategory
    id: str | None = None
    content: str | None = None
    metadata: dict[str, Any] | None = None


class ToolAction(_Body):
    thought: str = ""
    tool: str = ""
    tool_input: str = ""


class MessageStep(_Body):
    action: ToolAction | None = None
    observation: str = ""


class AgentMessage(_Body):
    role: Literal["user", "assistant", "system"]
    content: str | None = None
    context: PageContext | None = None
    current_file: AgentCurrentFile | None = None
    additional_context: list[AdditionalContext] | None = None
    agent_scratchpad: list[MessageStep] | None = None
    resource_content: str | None = None


class ScratchpadStep(_Body):
    thought: str
    tool: str
    tool_input: str
    observation: str


class Scratchpad(_Body):
    agent_type: Literal["react"]
    steps: list[ScratchpadStep]


class AgentOptions(_Body):
    agent_scratchpad: Scratchpad


class AgentRequest(_Body):
    messages: list[AgentMessage] = Field(min_length=1)
    options: AgentOptions | None = None
    model_metadata: PromptModelMetadata | None = None
    unavailable_resources: list[str] | None = None
