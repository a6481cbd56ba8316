"""One step of the agent: its model request per model, the model call, and the reply as events.

The models are tried in order while one is unreachable before it said anything (as for every
feature). Once the request is accepted, every failure is an `error` event and the call ends OK:
the caller has usually started its answer by then (GitLab's /v2/chat/agent sends its 200 first).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import grpc
import structlog

from aigw.config.v1 import config_service_pb2
from aigw.modelproxy.v1 import model_proxy_service_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common.errors import InvalidArgument
from aigw_common.grpc_errors import from_rpc_error
from aigw_prompts import PreparedPrompt, UnknownPrompt, agent_families, prepare_agent
from router_svc.agent.failures import agent_error
from router_svc.agent.parser import Event, ReactParser
from router_svc.agent.tools import ToolDefinition
from router_svc.attempts import served_by, should_fall_back

_log = structlog.get_logger(__name__)

Chunk = model_proxy_service_pb2.StreamGenerateResponse


class GenerateCall(Protocol):
    """A started proxy call: its chunks, and how to stop it."""

    def __aiter__(self) -> AsyncIterator[Chunk]: ...

    def cancel(self) -> bool: ...


# Starts the proxy call for one attempt (the servicer knows the timeouts).
OpenCall = Callable[[config_service_pb2.Model, PreparedPrompt], GenerateCall]


class WholeAnswer:
    """A proxy Generate call as a one-chunk stream, for model servers whose streaming is broken
    (AIGW_CUSTOM_MODELS__DISABLE_STREAMING)."""

    def __init__(
        self,
        call: grpc.aio.UnaryUnaryCall[
            model_proxy_service_pb2.GenerateRequest, model_proxy_service_pb2.GenerateResponse
        ],
    ) -> None:
        self._call = call

    async def __aiter__(self) -> AsyncIterator[Chunk]:
        response = await self._call
        yield Chunk(text=response.text, finish_reason=response.finish_reason, usage=response.usage)

    def cancel(self) -> bool:
        return self._call.cancel()


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
    agent prompt."""
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
        attempts.append(Attempt(model, prompt))
    return attempts


async def run_step(
    attempts: Sequence[Attempt], tools: Sequence[ToolDefinition], open_call: OpenCall
) -> AsyncGenerator[Event, None]:
    """The step's events; the first one names the model that answers."""
    names = frozenset(tool.name for tool in tools)
    for number, attempt in enumerate(attempts, start=1):
        call = open_call(attempt.model, attempt.prompt)
        parser = ReactParser(names)
        named = _Namer(attempt.model)
        heard = False  # the model said something: no other model may answer now
        usage: list[Event] = []
        try:
            async for chunk in call:
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
        except grpc.aio.AioRpcError as rpc_error:
            error = from_rpc_error(rpc_error)
            if not heard and should_fall_back(error, number, len(attempts)):
                _log.warning("model unavailable; trying fallback", model=attempt.model.name)
                continue
            yield named(Event(error=agent_error(error)))
            return
        finally:
            # Also when our caller goes away: cancelling the proxy call stops the model.
            call.cancel()


class _Namer:
    """Names the model on the step's first event."""

    def __init__(self, model: config_service_pb2.Model) -> None:
        self._model: config_service_pb2.Model | None = model

    def __call__(self, event: Event) -> Event:
        if self._model is not None:
            event.served_by.CopyFrom(served_by(self._model))
            self._model = None
        return event
