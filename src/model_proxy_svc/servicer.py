"""ModelProxyService: check the request, admit it, hand it to the platform's adapter, relay."""

from __future__ import annotations

from contextlib import aclosing
from typing import TYPE_CHECKING

from aigw.common.v1 import common_pb2
from aigw.modelproxy.v1 import model_proxy_service_pb2 as pb
from aigw.modelproxy.v1 import model_proxy_service_pb2_grpc as pb_grpc
from aigw_common.coalescing import coalesced
from aigw_common.errors import InvalidArgument
from aigw_common.request_rules import check_target
from aigw_common.secrets_box import SecretsBox
from aigw_common.settings import ModelProxySettings
from model_proxy_svc.bedrock_clients import BedrockClients
from model_proxy_svc.clients import HttpClients
from model_proxy_svc.deadlines import call_with_retries, guarded_stream, within_deadline
from model_proxy_svc.limits import Admission, ConcurrencyLimiter
from model_proxy_svc.providers import Providers
from model_proxy_svc.providers.base import Chunk, GenerationRequest, Provider, Upstream, Usage
from model_proxy_svc.retries import RetryPolicy
from model_proxy_svc.validation import check_generation, generation_request, upstream_of

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aigw_common.grpc_types import Context


class ModelProxyServicer(pb_grpc.ModelProxyServiceServicer):
    """Relays generations to model servers; see the service's proto for the status codes."""

    def __init__(
        self,
        settings: ModelProxySettings,
        clients: HttpClients,
        secrets: SecretsBox,
        bedrock: BedrockClients,
        limiter: Admission | None = None,
    ) -> None:
        self._providers = Providers(clients, bedrock)
        self._limiter = limiter or ConcurrencyLimiter()
        self._secrets = secrets
        self._settings = settings
        self._retries = RetryPolicy(settings)

    async def Generate(self, request: pb.GenerateRequest, context: Context) -> pb.GenerateResponse:
        provider, generation = self._prepare(request, context)
        upstream = generation.upstream
        limit = request.generation.target.limits.max_concurrent_requests
        async with self._limiter.slot(upstream.model_name, limit):
            completion = await call_with_retries(
                lambda: provider.generate(generation), upstream, self._retries
            )
        return pb.GenerateResponse(
            text=completion.text,
            finish_reason=completion.finish_reason,
            usage=_usage(completion.usage),
        )

    async def StreamGenerate(
        self, request: pb.StreamGenerateRequest, context: Context
    ) -> AsyncIterator[pb.StreamGenerateResponse]:
        provider, generation = self._prepare(request, context)
        upstream = generation.upstream
        limit = request.generation.target.limits.max_concurrent_requests
        async with self._limiter.slot(upstream.model_name, limit):
            # If the caller cancels, grpc closes this generator at its `yield`; aclosing then
            # closes the adapter's, whose `async with` closes the upstream HTTP response.
            # A fast model outruns a gRPC message per token: what queued up goes as one.
            chunks = coalesced(
                guarded_stream(lambda: provider.stream(generation), upstream, self._retries),
                _merged,
            )
            async with aclosing(chunks):
                async for chunk in chunks:
                    yield _chunk(chunk)

    async def ListProviderModels(
        self, request: pb.ListProviderModelsRequest, context: Context
    ) -> pb.ListProviderModelsResponse:
        if not request.HasField("target"):
            raise InvalidArgument("target must be set", field="target")
        check_target(request.target, "target")
        provider = self._providers.get(request.target.platform, field="target.platform")
        upstream = self._upstream(request.target, context)
        served = await within_deadline(provider.list_models(upstream), upstream)
        return pb.ListProviderModelsResponse(
            identifiers=[model.identifier for model in served],
            models=[
                pb.ProviderModel(identifier=m.identifier, context_tokens=m.context_tokens)
                for m in served
            ],
        )

    def _prepare(
        self, request: pb.GenerateRequest | pb.StreamGenerateRequest, context: Context
    ) -> tuple[Provider, GenerationRequest]:
        if not request.HasField("generation"):
            raise InvalidArgument("generation must be set", field="generation")
        check_generation(request.generation, "generation")
        target = request.generation.target
        provider = self._providers.get(target.platform, field="generation.target.platform")
        upstream = self._upstream(target, context)
        return provider, generation_request(request.generation, upstream)

    def _upstream(self, target: common_pb2.ModelTarget, context: Context) -> Upstream:
        # A key sent with this one request (a model the caller described) wins over a stored one.
        api_key = target.request_api_key or (
            self._secrets.open(target.sealed_api_key) if target.sealed_api_key else None
        )
        return upstream_of(
            target,
            api_key=api_key,
            settings=self._settings,
            context=context,
        )


def _usage(usage: Usage | None) -> common_pb2.TokenUsage | None:
    if usage is None:
        return None
    return common_pb2.TokenUsage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)


def _merged(chunks: list[Chunk]) -> Chunk:
    """Consecutive chunks as one: their text, and the last finish reason and usage."""
    last = chunks[-1]
    usage = next((c.usage for c in reversed(chunks) if c.usage is not None), None)
    return Chunk("".join(c.text for c in chunks), last.finish_reason, usage)


def _chunk(chunk: Chunk) -> pb.StreamGenerateResponse:
    return pb.StreamGenerateResponse(
        text=chunk.text, finish_reason=chunk.finish_reason, usage=_usage(chunk.usage)
    )
