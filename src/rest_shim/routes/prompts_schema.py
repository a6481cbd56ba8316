"""Body of GitLab's `/v1/prompts/{prompt_id}` and its `model_metadata` (also sent by Duo Chat):
field names and limits as GitLab's; unknown fields are accepted and ignored."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AnyUrl, BaseModel, ConfigDict, StringConstraints, UrlConstraints

from rest_shim.model_coordinates import FieldNames, ModelCoordinates

_FIELD_NAMES = FieldNames(
    family="model_metadata.name",
    endpoint="model_metadata.endpoint",
    api_key="model_metadata.api_key",
    identifier="model_metadata.identifier",
)


class PromptModelMetadata(BaseModel):
    """GitLab's `model_metadata`: the self-hosted model that should answer."""

    model_config = ConfigDict(extra="ignore")

    provider: Annotated[str, StringConstraints(max_length=255)]
    name: Annotated[str, StringConstraints(max_length=255)]
    endpoint: Annotated[AnyUrl, UrlConstraints(max_length=255)] | None = None
    api_key: Annotated[str, StringConstraints(max_length=2000)] | None = None
    identifier: Annotated[str, StringConstraints(max_length=1000)] | None = None

    @property
    def coordinates(self) -> ModelCoordinates:
        return ModelCoordinates(
            family=self.name,
            endpoint=str(self.endpoint) if self.endpoint is not None else None,
            api_key=self.api_key,
            identifier=self.identifier,
            names=_FIELD_NAMES,
        )


class PromptRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    inputs: dict[str, Any]
    prompt_version: Annotated[str, StringConstraints(max_length=100)] | None = None
    stream: bool | None = False
    model_metadata: PromptModelMetadata | None = None
