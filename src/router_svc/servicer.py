"""RouterService: feature -> model -> rendered prompt -> model proxy -> caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import TYPE_CHECKING

import structlog

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2
from aigw.modelproxy.v1 import model_proxy_service_pb2
from aigw.router.v1 import router_service_pb2, router_service_pb2_grpc
from aigw_common import catalog
from aigw_common.catalog import Feature
from aigw_common.coalescing import coalesced, merged_chunks
from aigw_common.deadlines import call_timeout
from aigw_common.errors import AigwError
from aigw_common.message_size import text_pieces
from aigw_common.server_limits import (
    ServerLimits,
    fit_max_tokens,
    generation_tokens,
    max_stop_sequences,
    prompt_tokens,
)
from aigw_common.settings import (
    CustomModelsSettings,
    RateLimitSettings,
    RedisSettings,
    RouterSettings,
)
from aigw_prompts import (
    PostProcessing,
    PreparedPrompt,
    prepare,
    prepare_check,
    prepared_parameters,
)
from router_svc.agent.request import check_agent_request
from router_svc.agent.step import ProxyStream, agent_attempts, run_step
from router_svc.agent.tools import Caller, offered_tools
from router_svc.attempts import served_by, should_fall_back
from router_svc.authentication import TRIAL_PRINCIPAL, current_principal, require_scope
from router_svc.completion_request import check_completion
from router_svc.config_cache import ConfigCache
from router_svc.custom_models import custom_model
from router_svc.ejection import model_ejection
from router_svc.model_access import addressable_model, list_page
from router_svc.model_proxy_client import ModelProxyClient
from router_svc.prompt_invocations import CHECK_PROMPT_ID, invocation_completion
from router_svc.rate_limits import RateLimits
from router_svc.served_context import ServedContext

if TYPE_CHECKING:
    from aigw_common.grpc_types import Context

_log = structlog.get_logger(__name__)

_Attempt = tuple[config_service_pb2.Model, PreparedPrompt]
_VERBATIM = "verbatim"
# The feature whose models, scope and switches Duo Chat's agent uses.
AGENT_FEATURE = "duo_chat"


class RouterServicer(router_service_pb2_grpc.RouterServiceServicer):
    """Serves completions by feature, trying the feature's fallback models in order.

    A fallback is tried only when a model is unreachable before it produced anything; once a
    chunk has gone to the caller the answer is that model's, errors included.
    """

    def __init__(
        self,
        config: ConfigCache,
        proxy: ModelProxyClient,
        default_timeout_s: float,
        custom_models: CustomModelsSettings | None = None,
        rate_limits: RateLimits | None = None,
        settings: RouterSettings | None = None,
    ) -> None:
        self._config = config
        self._proxy = proxy
        self._default_timeout_s = default_timeout_s
        self._custom_models = custom_models or CustomModelsSettings()
        self._rate_limits = rate_limits or RateLimits(RateLimitSettings(), RedisSettings())
        settings = settings or RouterSettings()
        self._max_message_bytes = settings.max_message_bytes
        self._ejection = model_ejection(settings)
        self._chat_max_tokens = settings.chat_max_tokens
        self._served = ServedContext(
            proxy,
            ttl_s=settings.served_context_ttl_s,
            timeout_s=settings.served_context_timeout_s,
        )

    async def Complete(
        self, request: router_service_pb2.CompleteRequest, context: Context
    ) -> router_service_pb2.CompleteResponse:
        attempts = await self._plan(request.completion)
        caller = await self._admit(request.completion.feature)
        response = await self._complete(attempts, context)
        await self._spend(caller, response.usage)
        return response

    async def StreamComplete(
        self, request: router_service_pb2.StreamCompleteRequest, context: Context
    ) -> AsyncIterator[router_service_pb2.StreamCompleteResponse]:
        attempts = await self._plan(request.completion)
        caller = await self._admit(request.completion.feature)
        if self._custom_models.disable_streaming:
            # AIGW_CUSTOM_MODELS__DISABLE_STREAMING: for model servers whose streaming is
            # broken. The caller still gets a stream: one chunk with the whole answer.
            whole = await self._complete(attempts, context)
            await self._spend(caller, whole.usage)
            yield router_service_pb2.StreamCompleteResponse(
                text=whole.text,
                finish_reason=whole.finish_reason,
                usage=whole.usage,
                served_by=whole.served_by,
            )
            return
        for number, (model, prompt) in enumerate(attempts, start=1):
            # Holds back only text that may turn out to be a fence or a repeated suffix.
            answer = prompt.postprocessing.start()
            started = False
            # When the caller reads slower than the proxy writes, what queued up goes on as
            # one message (and through post-processing once). Our caller going away closes
            # this generator, which closes the proxy stream, which cancels its call.
            proxied = self._watched(
                model,
                self._proxy.stream(
                    prompt.generation, timeout_s=self._timeout(model, prompt, context)
                ),
                len(attempts),
            )
            chunks = coalesced(proxied, merged_chunks)
            try:
                async with aclosing(chunks):
                    async for chunk in chunks:
                        last = chunk.finish_reason != common_pb2.FINISH_REASON_UNSPECIFIED
                        text = answer.feed(chunk.text) + (answer.finish() if last else "")
                        if not (text or last or chunk.HasField("usage")):
                            continue
                        # Text too large for one message goes in several; the last carries
                        # the finish reason and usage.
                        pieces = text_pieces(text, self._max_message_bytes)
                        for index, piece in enumerate(pieces):
                            response = router_service_pb2.StreamCompleteResponse(text=piece)
                            if index == len(pieces) - 1:
                                response.finish_reason = chunk.finish_reason
                                if chunk.HasField("usage"):
                                    response.usage.CopyFrom(chunk.usage)
                                    await self._spend(caller, chunk.usage)
                            if not started:
                                response.served_by.CopyFrom(served_by(model))
                                started = True
                            yield response
                return
            except AigwError as error:
                if started or not should_fall_back(error, number, len(attempts)):
                    raise
                _log.warning("model unavailable; trying fallback", model=model.name)

    async def StreamAgent(
        self, request: router_service_pb2.StreamAgentRequest, context: Context
    ) -> AsyncIterator[router_service_pb2.StreamAgentResponse]:
        extra_scopes = check_agent_request(request)
        feature = catalog.feature(AGENT_FEATURE)
        principal = require_scope(feature.scope, feature.name)
        for scope in extra_scopes:
            require_scope(scope, feature.name)
        if request.HasField("custom_model"):
            models = [custom_model(request.custom_model, enabled=self._custom_models.enabled)]
        else:
            models = self._config.models_for(feature.name)
        caller = Caller(
            scopes=principal.scopes,
            gitlab_version=request.gitlab_version,
            feature_flags=frozenset(request.feature_flags),
            trial=principal is TRIAL_PRINCIPAL,
        )
        tools = offered_tools(caller)
        attempts = agent_attempts(request, models, tools)
        for attempt in attempts:
            await self._fit_answer(attempt.prompt.generation)
        await self._admit(feature.name)
        if len(attempts) > 1:
            attempts = self._ejection.order(attempts, lambda attempt: attempt.model.name)

        def open_call(model: config_service_pb2.Model, prompt: PreparedPrompt) -> ProxyStream:
            timeout_s = self._timeout(model, prompt, context)
            if self._custom_models.disable_streaming:
                call = self._proxy.whole_as_stream(prompt.generation, timeout_s=timeout_s)
            else:
                call = self._proxy.stream(prompt.generation, timeout_s=timeout_s)
            return self._watched(model, call, len(attempts))

        async with aclosing(run_step(attempts, tools, open_call)) as events:
            async for event in events:
                yield event

    async def ListModels(
        self, request: router_service_pb2.ListModelsRequest, context: Context
    ) -> router_service_pb2.ListModelsResponse:
        models, settings = self._config.current()
        return list_page(request, models, settings, current_principal())

    async def _admit(self, feature: str) -> tuple[str, str]:
        """Count this request against the caller's and the feature's rate limits (a model
        addressed by name counts as feature "model"); the keys its tokens count against."""
        keys = (current_principal().subject, feature or "model")
        await self._rate_limits.admit(*keys)
        return keys

    async def _spend(self, keys: tuple[str, str], usage: common_pb2.TokenUsage) -> None:
        await self._rate_limits.spend(*keys, usage.input_tokens + usage.output_tokens)

    async def _complete(
        self, attempts: list[_Attempt], context: Context
    ) -> router_service_pb2.CompleteResponse:
        for number, (model, prompt) in enumerate(attempts, start=1):
            try:
                response = await self._proxy.generate(
                    prompt.generation, timeout_s=self._timeout(model, prompt, context)
                )
            except AigwError as error:
                if len(attempts) > 1:
                    self._ejection.failed(model.name, error)
                if not should_fall_back(error, number, len(attempts)):
                    raise
                _log.warning("model unavailable; trying fallback", model=model.name)
                continue
            self._ejection.succeeded(model.name)
            return router_service_pb2.CompleteResponse(
                text=prompt.postprocessing.apply(response.text),
                finish_reason=response.finish_reason,
                usage=response.usage,
                served_by=served_by(model),
            )
        raise AssertionError("a plan always has at least one attempt")  # pragma: no cover

    async def _fit_answer(self, generation: model_proxy_service_pb2.Generation) -> None:
        """A rendered prompt's answer budget lowered to the room its server's context leaves
        (agent prompts are rendered whole; code prompts are fitted as they are rendered)."""
        context_tokens = await self._served.context_tokens(generation.target)
        generation.target.limits.context_tokens = context_tokens
        fit_max_tokens(
            generation.parameters,
            context_tokens=context_tokens,
            prompt_estimate=generation_tokens(generation),
            default=None,
        )

    async def _plan(self, completion: router_service_pb2.Completion) -> list[_Attempt]:
        feature = check_completion(completion)
        principal = current_principal()
        if feature is not None:
            require_scope(feature.scope, feature.name)
        for scope in completion.extra_scopes:
            require_scope(scope, feature.name if feature else completion.model)
        if completion.HasField("custom_model"):
            models = [custom_model(completion.custom_model, enabled=self._custom_models.enabled)]
        elif feature is None:
            configured, settings = self._config.current()
            models = [addressable_model(completion.model, configured, settings, principal)]
        else:
            models = self._config.models_for(feature.name)
        attempts: list[_Attempt] = []
        for model in models:
            limits = ServerLimits(
                context_tokens=await self._served.context_tokens(model.target),
                max_stop_sequences=max_stop_sequences(model.target),
                chat_max_tokens=self._chat_max_tokens,
            )
            prompt = _prepared(feature, completion, model.family, limits)
            target = prompt.generation.target
            target.CopyFrom(model.target)
            # The proxy refuses what cannot fit the context the server reported.
            target.limits.context_tokens = limits.context_tokens
            attempts.append((model, prompt))
        if len(attempts) > 1:
            attempts = self._ejection.order(attempts, lambda attempt: attempt[0].name)
        return attempts

    def _watched(
        self, model: config_service_pb2.Model, call: ProxyStream, attempts: int
    ) -> ProxyStream:
        """`call`, its outcome counted for outlier ejection when the model has fallbacks (a
        lone model is tried anyway; request-described models are never counted)."""
        return self._ejection.observed(model.name, call) if attempts > 1 else call

    def _timeout(
        self, model: config_service_pb2.Model, prompt: PreparedPrompt, context: Context
    ) -> float:
        """The caller's deadline narrowed to this model's own timeout: its limits.timeout, else
        the prompt template's, else the default (aigw_common/deadlines.py)."""
        limit = model.target.limits.timeout
        model_timeout = limit.ToTimedelta().total_seconds() if limit.ByteSize() else 0.0
        timeout = model_timeout or prompt.timeout_s or self._default_timeout_s
        return call_timeout(context, timeout) or timeout


def _prepared(
    feature: Feature | None,
    completion: router_service_pb2.Completion,
    family: str,
    limits: ServerLimits,
) -> PreparedPrompt:
    if completion.HasField("invocation"):
        assert feature is not None  # check_completion resolved the prompt's feature
        if completion.invocation.prompt_id == CHECK_PROMPT_ID:
            return prepare_check(family, limits=limits)
        invoked = invocation_completion(completion.invocation, feature)
        return prepare(feature, invoked, family, limits=limits)
    if feature is None or completion.verbatim:
        return PreparedPrompt(
            _verbatim(completion, limits, family), _VERBATIM, None, PostProcessing()
        )
    return prepare(feature, completion, family, limits=limits)


def _verbatim(
    completion: router_service_pb2.Completion, limits: ServerLimits, family: str
) -> model_proxy_service_pb2.Generation:
    """The caller's own prompt or messages, with only the parameters it set, and an answer
    budget for chat when it set none. A prompt a GitLab client prepared gets GitLab's
    parameters for the family, its answer budget fitted to the model's context."""
    if completion.prepared_prompt_defaults:
        generation = model_proxy_service_pb2.Generation(
            parameters=prepared_parameters(family, completion.parameters)
        )
        if completion.WhichOneof("input") == "chat":
            generation.chat.messages.extend(completion.chat.messages)
        else:
            generation.prompt = completion.prompt
        if not completion.parameters.HasField("max_tokens"):
            fit_max_tokens(
                generation.parameters,
                context_tokens=limits.context_tokens,
                prompt_estimate=generation_tokens(generation),
                default=None,
            )
        return generation
    generation = model_proxy_service_pb2.Generation(parameters=completion.parameters)
    if completion.WhichOneof("input") != "chat":
        generation.prompt = completion.prompt
        return generation
    generation.chat.messages.extend(completion.chat.messages)
    if not completion.parameters.HasField("max_tokens"):
        fit_max_tokens(
            generation.parameters,
            context_tokens=limits.context_tokens,
            prompt_estimate=prompt_tokens(None, (m.content for m in completion.chat.messages)),
            default=limits.chat_max_tokens,
        )
    return generation
