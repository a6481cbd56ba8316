"""aigw's prompt registry: versioned templates per feature and model family, kept as data.

`prepare(feature, completion, family)` renders a request for a family; the answer goes through
the returned `PostProcessing`.
"""

from aigw_prompts.agent import AGENT_PROMPT, PromptTool, agent_families, prepare_agent
from aigw_prompts.postprocess import PostProcessing, Step
from aigw_prompts.prepared import prepared_parameters
from aigw_prompts.registry import PromptRegistry, PromptTemplate, UnknownPrompt
from aigw_prompts.rendering import PreparedPrompt, default_registry, prepare, prepare_check

__all__ = [
    "AGENT_PROMPT",
    "PostProcessing",
    "PreparedPrompt",
    "PromptRegistry",
    "PromptTemplate",
    "PromptTool",
    "Step",
    "UnknownPrompt",
    "agent_families",
    "default_registry",
    "prepare",
    "prepare_agent",
    "prepare_check",
    "prepared_parameters",
]
