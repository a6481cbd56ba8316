"""What every provider adapter takes and gives: a validated generation request in, text chunks
out. Adding a platform means one new module implementing `Provider`."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeAlias

from aigw.common.v1 import common_pb2

ChatRole = Literal["system", "user", "assistant"]
FinishReason: TypeAlias = common_pb2.FinishReason.ValueType


@dataclass(frozen=True)
class AzureTarget:
    """How to reach an Azure OpenAI deployment (from the target's AzureOptions)."""

    api_version: str
    v1_api: bool = False
    entra_bearer: bool = False


@dataclass(frozen=True)
class Upstream:
    """Where a model lives and how to reach it. `model_name` (the operator's name) and the
    endpoint appear in error messages; the API key never does.

    `timeout_s` bounds the whole exchange; `first_token_timeout_s` a stream's wait for its
    first token, `idle_timeout_s` its silences between chunks (None: only `timeout_s`).
    """

    model_name: str
    endpoint: str
    identifier: str
    timeout_s: float
    api_key: str | None = field(default=None, repr=False)
    connect_timeout_s: float = 5.0
    first_token_timeout_s: float | None = None
    idle_timeout_s: float | None = None
    max_retries: int = 0
    max_output_tokens: int = 0
    # The model's own whole-request timeout, before the caller's deadline capped `timeout_s`.
    model_timeout_s: float = 60.0
    azure: AzureTarget | None = None
    # Bedrock: the region ("" = the AWS SDK's chain). An empty endpoint means AWS's default.
    region: str = ""

    @property
    def display_endpoint(self) -> str:
        """The endpoint without user info or query, safe for messages and logs."""
        if not self.endpoint:
            return f"the AWS endpoint of region {self.region or '(AWS default)'}"
        scheme, _, rest = self.endpoint.partition("://")
        authority, slash, path = rest.partition("/")
        host = authority.rpartition("@")[2]
        return f"{scheme}://{host}{slash}{path.partition('?')[0]}"

    def describe(self) -> str:
        """`model 'x' ('identifier' at http://host/v1)`, for the start of an error message."""
        if not self.identifier:
            return f"the model server at {self.display_endpoint}"
        return f"model {self.model_name!r} ({self.identifier!r} at {self.display_endpoint})"


@dataclass(frozen=True)
class ChatMessage:
    role: ChatRole
    content: str


@dataclass(frozen=True)
class GenerationRequest:
    """One generation: either `prompt` or `messages` is set."""

    upstream: Upstream
    prompt: str | None
    messages: tuple[ChatMessage, ...]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()
    # A prompt goes to the chat completions API as the one user message (servers that serve
    # only chat completions).
    prompt_as_chat: bool = False


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class Chunk:
    """Text produced since the previous chunk; the last chunk carries the finish reason and,
    when the server reported it, the usage."""

    text: str
    finish_reason: FinishReason = common_pb2.FINISH_REASON_UNSPECIFIED
    usage: Usage | None = None


@dataclass(frozen=True)
class ServedModel:
    """A model a server serves, and its context in tokens when the server says (else 0)."""

    identifier: str
    context_tokens: int = 0


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: FinishReason
    usage: Usage | None


class Provider(Protocol):
    """A platform's wire protocol. Errors are raised as aigw_common.errors upstream errors.

    `stream` must close its upstream response when the iterator is closed or cancelled: that
    is how a caller going away stops the model.
    """

    def stream(self, request: GenerationRequest) -> AsyncGenerator[Chunk, None]: ...

    async def generate(self, request: GenerationRequest) -> Completion: ...

    async def list_models(self, upstream: Upstream) -> list[ServedModel]: ...
