"""What to do about a model that failed a check, from what its server said, and which API
serves its prompts (found out by trying)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc

from aigw.common.v1 import common_pb2
from aigw.modelproxy.v1 import model_proxy_service_pb2
from aigw_common import errors
from aigw_common.grpc_errors import from_rpc_error

if TYPE_CHECKING:
    from aigw.modelproxy.v1.model_proxy_service_pb2_grpc import ModelProxyServiceAsyncStub

# A prompt every server tokenizes; one token of answer is enough to know the route works.
_PROBE_PROMPT = "def add(a, b):\n    return"


def fix_for(error: grpc.aio.AioRpcError) -> str:
    """A fix that fits the cause of a failed call to a model, as its server explained it."""
    domain = from_rpc_error(error)
    said = domain.message.lower()
    status = domain.metadata.get("http_status", "")
    if isinstance(domain, errors.Unauthenticated | errors.PermissionDenied) or status in (
        "401",
        "403",
    ):
        return "replace the model's API key or cloud credentials"
    if "stop" in said and ("at most" in said or "too_long" in said):
        return (
            "the server takes fewer stop sequences than aigw sent: set the model's "
            "max_stop_sequences to the server's limit (vLLM: VLLM_MAX_STOP_STRINGS, default 4), "
            "or raise that limit on the server"
        )
    if "max_model_len" in said or "context length" in said:
        return (
            "the request does not fit the context the server serves: serve a larger "
            "--max-model-len, or set the model's context_tokens to what the server serves"
        )
    if "does not exist" in said or "does not serve the identifier" in said:
        return (
            "set the model's identifier to one the server serves "
            "(`aigw models discover --endpoint ...`)"
        )
    if "route" in said and status == "404":
        return (
            "the endpoint must be the OpenAI-compatible base URL (usually ending in /v1); a "
            "server that serves only chat completions needs the model's completion_api: chat"
        )
    if isinstance(domain, errors.UpstreamInvalidRequest):
        return "the server refused the request as shown; see its log for the details"
    return "fix the endpoint/identifier above, then `aigw models check NAME`"


async def discover_completion_api(
    proxy: ModelProxyServiceAsyncStub,
    target: common_pb2.ModelTarget,
    metadata: list[tuple[str, str]],
    timeout_s: float,
) -> common_pb2.CompletionApi.ValueType | None:
    """COMPLETION_API_COMPLETIONS when the server completes a text prompt, COMPLETION_API_CHAT
    when it has no completions route but answers it as chat; None when neither can be told
    (the server fails for another reason: `models check` shows it)."""
    for api in (common_pb2.COMPLETION_API_COMPLETIONS, common_pb2.COMPLETION_API_CHAT):
        probe = common_pb2.ModelTarget()
        probe.CopyFrom(target)
        probe.completion_api = api
        generation = model_proxy_service_pb2.Generation(
            target=probe,
            prompt=_PROBE_PROMPT,
            parameters=common_pb2.GenerationParameters(max_tokens=1),
        )
        try:
            await proxy.Generate(
                model_proxy_service_pb2.GenerateRequest(generation=generation),
                metadata=metadata,
                timeout=timeout_s,
            )
        except grpc.aio.AioRpcError as error:
            domain = from_rpc_error(error)
            route_missing = (
                domain.reason == errors.UpstreamRejected.reason
                and domain.metadata.get("http_status") == "404"
            )
            if not route_missing:
                return None
            continue
        return api
    return None
