"""Bodies of GitLab's `/v3/code/completions` and `/v4/code/suggestions` (field names and limits
as GitLab's CompletionRequest; unknown fields are accepted and ignored)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from rest_shim.routes.suggestions_schema import PromptMessage

_Str255 = Annotated[str, StringConstraints(max_length=255)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())


class ComponentMetadata(_Body):
    source: _Str255
    version: _Str255


class EditorContent(_Body):
    file_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)]
    content_above_cursor: Annotated[str, StringConstraints(max_length=100_000)]
    content_below_cursor: Annotated[str, StringConstraints(max_length=100_000)]
    language_identifier: _Str255 | None = None
    # GitLab's hosted providers; aigw's configured model serves whatever is named here.
    model_provider: Literal["vertex-ai", "anthropic", "amazon_q"] | None = None
    model_name: str | None = None
    stream: bool | None = False
    role_arn: str | None = None


class CompletionPayload(EditorContent):
    choices_count: int | None = 0
    prompt: str | list[PromptMessage] | None = None


class GenerationPayload(EditorContent):
    prompt: Annotated[str, StringConstraints(max_length=400_000)] | None = None
    prompt_id: str | None = None
    prompt_enhancer: dict[str, Any] | None = None
    prompt_version: str | None = None


class CodeEditorCompletion(_Body):
    type: Literal["code_editor_completion"]
    payload: CompletionPayload
    metadata: ComponentMetadata | None = None


class CodeEditorGeneration(_Body):
    type: Literal["code_editor_generation"]
    payload: GenerationPayload
    metadata: ComponentMetadata | None = None


class CodeContextPayload(_Body):
    type: Annotated[str, StringConstraints(max_length=1024)]
    name: Annotated[str, StringConstraints(max_length=1024)]
    content: Annotated[str, StringConstraints(max_length=100_000)]


class CodeContextComponent(_Body):
    type: Literal["code_context"]
    payload: CodeContextPayload
    metadata: ComponentMetadata | None = None


PromptComponent = Annotated[
    CodeEditorCompletion | CodeEditorGeneration | CodeContextComponent,
    Field(discriminator="type"),
]


class CompletionRequest(_Body):
    prompt_components: Annotated[list[PromptComponent], Field(min_length=1, max_length=100)]


class ModelMetadata(BaseModel):
    engine: str | None = None
    name: str | None = None
    lang: str | None = None


class ResponseMetadata(BaseModel):
    model: ModelMetadata | None = None
    timestamp: int
    enabled_feature_flags: list[str] | None = None
    region: str | None = None


class V3Choice(BaseModel):
    text: str
    index: int = 0
    finish_reason: str = "length"


class CompletionResponse(BaseModel):
    choices: list[V3Choice]
    metadata: ResponseMetadata | None = None
