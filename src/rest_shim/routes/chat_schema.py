"""Bodies of GitLab's `/v1/chat/{chat_invokable}` route (field names and limits as GitLab's
ChatRequest; unknown fields are accepted and ignored)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from rest_shim.model_coordinates import FieldNames, ModelCoordinates
from rest_shim.routes.suggestions_schema import LITELLM_FAMILIES

_FIELD_NAMES = FieldNames(
    family="prompt_components[0].payload.model",
    endpoint="prompt_components[0].payload.model_endpoint",
    api_key="prompt_components[0].payload.model_api_key",
    identifier="prompt_components[0].payload.model_identifier",
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())


class ChatMessage(_Body):
    role: Literal["system", "user", "assistant"]
    content: str


class PromptMetadata(_Body):
    source: Annotated[str, StringConstraints(max_length=100)]
    version: Annotated[str, StringConstraints(max_length=100)]


class AnthropicParams(_Body):
    """Sampling parameters GitLab applies to Anthropic models only; accepted, not used."""

    stop_sequences: Annotated[
        list[Annotated[str, StringConstraints(max_length=225)]], Field(min_length=1, max_length=10)
    ] = ["\n\nHuman", "Observation:"]
    temperature: Annotated[float, Field(ge=0.0, le=1.0)] = 0.2
    max_tokens_to_sample: Annotated[int, Field(ge=1, le=8192)] = 8192


class PromptPayload(_Body):
    content: (
        Annotated[str, StringConstraints(max_length=400_000)]
        | Annotated[list[ChatMessage], Field(min_length=1, max_length=100)]
    )
    provider: Literal["anthropic", "litellm"] | None = None
    # GitLab's Anthropic model names or LiteLLM families; the family matters with coordinates.
    model: Annotated[str, StringConstraints(max_length=255)] | None = None
    params: AnthropicParams | None = None
    model_endpoint: str | None = None
    model_api_key: str | None = None
    model_identifier: str | None = None

    @field_validator("model")
    @classmethod
    def _family_fits_the_provider(cls, model: str | None, info: ValidationInfo) -> str | None:
        # GitLab's `model` is an enum: an unknown LiteLLM family is a 422 like any bad field.
        litellm = info.data.get("provider") == "litellm"
        if model is not None and litellm and model not in LITELLM_FAMILIES:
            raise ValueError(
                f"model {model!r} is not a family of provider 'litellm'; "
                f"use one of {', '.join(sorted(LITELLM_FAMILIES))}"
            )
        return model


class PromptComponent(_Body):
    type: Annotated[str, StringConstraints(max_length=100)]
    metadata: PromptMetadata
    payload: PromptPayload


class ChatRequest(_Body):
    """Exactly one prompt component, as in GitLab."""

    prompt_components: Annotated[list[PromptComponent], Field(min_length=1, max_length=1)]
    stream: bool | None = False

    @property
    def coordinates(self) -> ModelCoordinates:
        payload = self.prompt_components[0].payload
        return ModelCoordinates(
            family=payload.model,
            endpoint=payload.model_endpoint,
            api_key=payload.model_api_key,
            identifier=payload.model_identifier,
            names=_FIELD_NAMES,
        )


class ChatResponseMetadata(BaseModel):
    provider: str | None
    model: str | None
    timestamp: int


class ChatResponse(BaseModel):
    response: str
    metadata: ChatResponseMetadata
