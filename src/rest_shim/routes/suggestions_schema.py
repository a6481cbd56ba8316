"""Bodies of GitLab's code suggestion routes (`/v2/code/completions`, `/v2/code/generations`).

Field names and limits follow GitLab's gateway so its clients' requests validate unchanged;
unknown fields are accepted and ignored, as there.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

_Str50 = Annotated[str, StringConstraints(max_length=50)]
_Stripped50 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)]
_Str255 = Annotated[str, StringConstraints(max_length=255)]
_Stripped255 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)]
_Content = Annotated[str, StringConstraints(max_length=100_000)]

# GitLab's KindModelProvider values.
ModelProvider = Literal[
    "anthropic", "vertex-ai", "litellm", "codestral", "fireworks_ai", "amazon_q", "gitlab"
]


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
    """The body of a code completion or generation request."""

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

    @property
    def has_model_coordinates(self) -> bool:
        """Whether the caller names its own model server (GitLab's self-hosted mode)."""
        return bool(self.model_endpoint or self.model_api_key or self.model_identifier)


class TokensConsumption(BaseModel):
    input_tokens: int
    output_tokens: int


class SuggestionModel(BaseModel):
    engine: str
    name: str
    lang: str
    tokens_consumption_metadata: TokensConsumption


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
