"""Bodies of GitLab's code suggestion routes (`/v2/code/completions`, `/v2/code/generations`).

Field names and limits follow GitLab's gateway so its clients' requests validate unchanged;
unknown fields are accepted and ignored, as there.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from rest_shim.model_coordinates import FieldNames, ModelCoordinates

_Str50 = Annotated[str, StringConstraints(max_length=50)]
_Stripped50 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)]
_Str255 = Annotated[str, StringConstraints(max_length=255)]
_Stripped255 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)]
_Content = Annotated[str, StringConstraints(max_length=100_000)]

# GitLab's KindModelProvider values.
ModelProvider = Literal[
    "anthropic", "vertex-ai", "litellm", "codestral", "fireworks_ai", "amazon_q", "gitlab"
]

# GitLab's `litellm` families (KindLiteLlmModel).
LITELLM_FAMILIES = frozenset(
    {
        "codegemma",
        "codellama",
        "codestral",
        "codestral-2501",
        "codestral-2508",
        "deepseekcoder",
        "llama3",
        "mistral",
        "mixtral",
        "claude_3",
        "gpt",
        "qwen2p5-coder-7b",
        "general",
    }
)
# The families allowed per use case (KindLiteLlmModel ∩ the use case's set). GitLab leaves
# `general` (bring-your-own, any OpenAI-compatible model) out of both sets, yet documents it as
# serving completion and generation; aigw accepts it for both.
LITELLM_COMPLETION_FAMILIES = LITELLM_FAMILIES
LITELLM_GENERATION_FAMILIES = frozenset(
    {
        "codegemma",
        "codellama",
        "codestral",
        "deepseekcoder",
        "llama3",
        "mistral",
        "mixtral",
        "claude_3",
        "gpt",
        "general",
    }
)
_FIELD_NAMES = FieldNames(
    family="model_name",
    endpoint="model_endpoint",
    api_key="model_api_key",
    identifier="model_identifier",
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())


class CurrentFile(_Body):
    """The file being edited, split at the cursor."""

    file_name: _Stripped255
    content_above_cursor: _Content
    content_below_cursor: _Content
    # A VS Code language id; overrides the language the file extension implies.
    language_identifier: _Str255 | None = None


class TelemetryEntry(_Body):
    """Client-side counters GitLab's clients attach; accepted, not used."""

    model_engine: _Str50 | None = None
    model_name: _Str50 | None = None
    lang: _Str50 | None = None
    requests: int = 0
    accepts: int = 0
    errors: int = 0


class ContextItem(_Body):
    """An extra file or snippet the IDE sends as context."""

    type: Annotated[str, StringConstraints(max_length=1024)]
    name: Annotated[str, StringConstraints(max_length=1024)]
    content: Annotated[str, StringConstraints(max_length=500_000)]


class PromptMessage(_Body):
    """One message of a prompt_version 3 prompt."""

    role: Literal["system", "user", "assistant"]
    content: str


class SuggestionsRequest(_Body):
    """The body of a code completion request."""

    # Families a `litellm` model_name may take on this route.
    litellm_families: ClassVar[frozenset[str]] = LITELLM_COMPLETION_FAMILIES

    current_file: CurrentFile
    project_path: _Stripped255 | None = None
    project_id: int | None = None
    model_provider: ModelProvider | None = None
    model_name: _Stripped50 | None = None
    model_endpoint: str | None = None
    model_api_key: str | None = None
    model_identifier: str | None = None
    telemetry: Annotated[list[TelemetryEntry], Field(max_length=10)] = []
    stream: bool | None = False
    choices_count: int | None = 0
    context: Annotated[list[ContextItem], Field(max_length=100)] = []
    prompt_id: str | None = None
    prompt_version: Literal[1, 2, 3] = 1
    prompt: str | list[PromptMessage] | None = None

    @field_validator("model_name")
    @classmethod
    def _family_fits_the_provider(cls, name: str | None, info: ValidationInfo) -> str | None:
        if name is not None and info.data.get("model_provider") == "litellm":
            allowed = cls.litellm_families
            if name not in allowed:
                raise ValueError(
                    f"model {name!r} is not supported by provider 'litellm' here; "
                    f"use one of {', '.join(sorted(allowed))}"
                )
        return name

    @property
    def coordinates(self) -> ModelCoordinates:
        """The model the caller names itself, if any (GitLab's self-hosted mode)."""
        return ModelCoordinates(
            family=self.model_name,
            endpoint=self.model_endpoint,
            api_key=self.model_api_key,
            identifier=self.model_identifier,
            names=_FIELD_NAMES,
        )


class GenerationsRequest(SuggestionsRequest):
    """The body of a code generation request: with prompt_version 2 or 3 a `prompt` is
    required (a string for 2, messages for 3); Rails' self-hosted requests send `""`."""

    litellm_families: ClassVar[frozenset[str]] = LITELLM_GENERATION_FAMILIES
    prompt: Annotated[str, StringConstraints(max_length=400_000)] | list[PromptMessage] | None = (
        Field(default=None, validate_default=True)
    )

    @field_validator("prompt")
    @classmethod
    def _prompt_fits_the_version(
        cls, prompt: str | list[PromptMessage] | None, info: ValidationInfo
    ) -> str | list[PromptMessage] | None:
        version = info.data.get("prompt_version", 1)
        if version == 2 and not isinstance(prompt, str):
            raise ValueError("prompt_version 2 needs a string prompt (it may be empty)")
        if version == 3 and not isinstance(prompt, list):
            raise ValueError("prompt_version 3 needs a list of messages")
        return prompt


class TokensConsumption(BaseModel):
    """GitLab's token accounting for one answer."""

    input_tokens: int
    output_tokens: int
    # The answer stopped at its max_tokens.
    max_output_tokens_used: bool
    # Tokens of the IDE's extra `context` the request brought (estimated: aigw has no tokenizer
    # of each model), and how many of them went into the prompt (none: aigw's prompts use the
    # file around the cursor only).
    context_tokens_sent: int
    context_tokens_used: int


class SuggestionModel(BaseModel):
    engine: str
    name: str
    lang: str
    # None (null) for an empty answer, as GitLab's gateway.
    tokens_consumption_metadata: TokensConsumption | None


class Choice(BaseModel):
    text: str
    index: int = 0
    finish_reason: str = "length"


class SuggestionsResponse(BaseModel):
    """GitLab's non-streaming answer; `id`, `experiments` and `finish_reason` are fixed values
    its clients expect."""

    id: str = "id"
    object: str = "text_completion"
    created: int
    model: SuggestionModel
    experiments: list[dict[str, str]] = []
    choices: list[Choice]
