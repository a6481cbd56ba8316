"""Request bodies of the OpenAI-compatible routes: the fields aigw honours, as OpenAI names
them. Unknown fields are ignored; fields aigw cannot honour (n > 1, suffix, echo, tools) are
refused by name rather than silently dropped."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from aigw_common.request_rules import MAX_STOP_SEQUENCES, MAX_TEMPERATURE

FEATURE_PREFIX = "feature:"

_ModelName = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(_Body):
    type: Literal["text"]
    text: str


class ChatMessage(_Body):
    # `developer` is OpenAI's newer name for `system`.
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class StreamOptions(_Body):
    include_usage: bool | None = False


class _Sampling(_Body):
    model: _ModelName
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    max_tokens: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    # The shared rules' ranges, checked here too so that the error names OpenAI's parameter.
    temperature: Annotated[float, Field(ge=0, le=MAX_TEMPERATURE)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    stop: (
        Annotated[str, StringConstraints(min_length=1)]
        | Annotated[
            list[Annotated[str, StringConstraints(min_length=1)]],
            Field(max_length=MAX_STOP_SEQUENCES),
        ]
        | None
    ) = None
    n: Literal[1] | None = None

    @property
    def stop_sequences(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatCompletionRequest(_Sampling):
    """POST /v1/chat/completions."""

    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=100)]
    max_completion_tokens: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    tools: list[object] | None = None

    @field_validator("tools", mode="before")
    @classmethod
    def _no_tools(cls, value: object) -> None:
        if value:
            raise ValueError("tools are not supported")
        return

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(_Sampling):
    """POST /v1/completions: one prompt (a string, or a list holding exactly one)."""

    prompt: str | Annotated[list[str], Field(min_length=1, max_length=1)]
    echo: Literal[False] | None = None
    suffix: None = None

    @field_validator("suffix", mode="before")
    @classmethod
    def _no_suffix(cls, value: object) -> None:
        if value is not None:
            raise ValueError("suffix is not supported; put fill-in-the-middle tokens in prompt")
        return

    @property
    def prompt_text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]
