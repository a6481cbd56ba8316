"""One step of the agent: its model request per model, the model call, and the reply as events.

The models are tried in order while one is unreachable before it said anything (as for every
feature). Once the request is accepted, every failure is an `error` event and the call ends OK:
the caller has usually started its answer by then (GitLab's /v2/chat/agent sends its 200 first).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass

import structlog

from aigw.config.v1 import config_service_pb2
from aigw.modelproxy.v1 import model_proxy_service_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common.errors import AigwError, InvalidArgument
from aigw_prompts import PreparedPrompt, UnknownPrompt, agent_families, prepare_agent
from router_svc.agent.failures import agent_error
from router_svc.agent.parser import Event, ReactParser
from router_svc.agent.tools import ToolDefinition
from router_svc.attempts import served_by, should_fall_back

_log = structlog.get_logger(__name__)

# The proxy's answer for one attempt (model_proxy_client.py): closing it cancels the call.
ProxyStream = AsyncGenerator[model_proxy_service_pb2.StreamGenerateResponse, None]
# Starts the proxy call for one attempt (the servicer knows the timeouts).
OpenCall = Callable[[config_service_pb2.Model, PreparedPrompt], ProxyStream]


@dataclass(frozen=True)
class Attempt:
    model: config_service_pb2.Model
    prompt: PreparedPrompt


def agent_attempts(
    request: router_service_pb2.StreamAgentRequest,
    models: Sequence[config_service_pb2.Model],
    tools: Sequence[ToolDefinition],
) -> list[Attempt]:
    """The model request for each model in turn; InvalidArgument when a model's family has no
    agent prompt (only a model described in the request can: config_svc assigns duo_chat to
    chat-capable families only, and each has one)."""
    attempts = []
    for model in models:
        try:
            prompt = prepare_agent(request, tools, model.family)
        except UnknownPrompt:
            raise InvalidArgument(
                f"model family {model.family!r} has no Duo Chat agent prompt; families "
                f"with one: {', '.join(agent_families())}",
                field="custom_model.family",
                metadata={"model": model.name, "family": model.family},
            ) from None
        prompt.generation.target.CopyFrom(model.target)
        # The prompt's 4096 is a default; the operator's limit for the model wins.
        limit = model.target.limits.max_output_tokens
        parameters = prompt.generation.parameters
        if 0 < limit < parameters.max_tokens:
            parameters.max_tokens = limit
        attempts.append(Attempt(model, prompt))
    return attempts


async def run_step(
    attempts: Sequence[Attempt], tools: Sequence[ToolDefinition], open_call: OpenCall
) -> AsyncGenerator[Event, None]:
    """The step's events; the first one names the model that answers."""
    names = frozenset(tool.name for tool in tools)
    for number, attempt in enumerate(attempts, start=1):
        chunks = open_call(attempt.model, attempt.prompt)
        parser = ReactParser(names)
        named = _Namer(attempt.model)
        heard = False  # the model said something: no other model may answer now
        usage: list[Event] = []
        try:
            # Closing the stream (also when our caller goes away) cancels the proxy call,
            # which stops the model.
            async with aclosing(chunks):
                async for chunk in chunks:
                    heard = heard or bool(chunk.text)
                    for event in parser.feed(chunk.text):
                        yield named(event)
                    if chunk.HasField("usage"):
                        usage = [Event(usage=chunk.usage)]
                    if parser.stopped:
                        break  # the model went past its stop sequence: stop it
            for event in [*parser.finish(), *usage]:
                yield named(event)
            return
        except AigwError as error:
            if not heard and should_fall_back(error, number, len(attempts)):
                _log.warning("model unavailable; trying fallback", model=attempt.model.name)
                continue
            yield named(Event(error=agent_error(error)))
            return


class _Namer:
    """Names the model on the step's first event."""

    def __init__(self, model: config_service_pb2.Model) -> None:
        self._model: config_service_pb2.Model | None = model

    def __call__(self, event: Event) -> Event:
        if self._model is not None:
            event.served_by.CopyFrom(served_by(self._model))
            self._model = None
        return event
