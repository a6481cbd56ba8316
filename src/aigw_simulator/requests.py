"""Validation of request bodies the way vLLM does it, with 0.32.0's messages: too many stop
strings, `suffix`, `stream_options` without `stream`, a max_tokens above the context and a
prompt longer than it are refused. Unknown fields are refused as 0.6.4 did (0.32.0 only warns),
so that aigw never depends on a field an older vLLM would refuse."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_COMMON_FIELDS = frozenset(
    {
        "model", "frequency_penalty", "logit_bias", "logprobs", "max_tokens", "n",
        "presence_penalty", "response_format", "seed", "stop", "stream", "stream_options",
        "temperature", "top_p", "user", "best_of", "use_beam_search", "top_k", "min_p",
        "repetition_penalty", "length_penalty", "stop_token_ids", "include_stop_str_in_output",
        "ignore_eos", "min_tokens", "skip_special_tokens", "spaces_between_special_tokens",
        "truncate_prompt_tokens", "prompt_logprobs", "add_special_tokens", "guided_json",
        "guided_regex", "guided_choice", "guided_grammar", "guided_decoding_backend",
        "guided_whitespace_pattern", "priority", "logits_processors",
    }
)  # fmt: skip
CHAT_FIELDS = _COMMON_FIELDS | {
    "messages", "top_logprobs", "max_completion_tokens", "tools", "tool_choice",
    "parallel_tool_calls", "echo", "add_generation_prompt", "continue_final_message",
    "documents", "chat_template", "chat_template_kwargs", "request_id",
}  # fmt: skip
COMPLETION_FIELDS = _COMMON_FIELDS | {"prompt", "echo", "suffix", "allowed_token_ids"}

# vLLM's default max_tokens for /v1/completions; chat has none (the context window is the limit).
COMPLETIONS_DEFAULT_MAX_TOKENS = 16


class RequestError(Exception):
    """A request vLLM would refuse, with the status and error type it would answer."""

    def __init__(
        self,
        message: str,
        status: int = 400,
        err_type: str = "BadRequestError",
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.err_type = err_type
        self.param = param


@dataclass(frozen=True)
class GenerationRequest:
    chat: bool
    model: str
    stream: bool
    include_usage: bool
    max_tokens: int | None
    stop: list[str]


def _validation_error(kind: str, field: str, message: str, value: Any) -> RequestError:
    # Close to the text FastAPI's RequestValidationError carries in vLLM's 400 message.
    return RequestError(
        f"[{{'type': '{kind}', 'loc': ('body', '{field}'), 'msg': '{message}', "
        f"'input': {value!r}}}]"
    )


def _too_many_stops(count: int, limit: int) -> RequestError:
    # vLLM's `stop: str | list[str]` fails both ways; FastAPI lists both, and vLLM's handler
    # writes them as one message with the field as `param`.
    items = f"'<list of {count} items>'"
    return RequestError(
        "2 validation errors:\n"
        f"  {{'type': 'string_type', 'loc': 'body.stop', 'msg': 'Input should be a valid "
        f"string', 'input': {items}}}\n"
        f"  {{'type': 'too_long', 'loc': 'body.stop', 'msg': 'List should have at most {limit} "
        f"items after validation, not {count}', 'input': {items}, 'ctx': {{'field_type': "
        f"'List', 'max_length': {limit}, 'actual_length': {count}}}}}",
        err_type="Bad Request",
        param="body.stop",
    )


def parse_generation(body: Any, *, chat: bool, max_stop_strings: int = 4) -> GenerationRequest:
    """The fields the simulator acts on, or RequestError as vLLM would answer."""
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object")
    allowed = CHAT_FIELDS if chat else COMPLETION_FIELDS
    for name, value in body.items():
        if name not in allowed:
            raise _validation_error(
                "extra_forbidden", name, "Extra inputs are not permitted", value
            )
    required = "messages" if chat else "prompt"
    for name in ("model", required):
        if name not in body:
            raise _validation_error("missing", name, "Field required", None)
    if chat and (not isinstance(body["messages"], list) or not body["messages"]):
        raise _validation_error(
            "list_type", "messages", "Input should be a valid list", body["messages"]
        )
    if not isinstance(body["model"], str):
        raise _validation_error(
            "string_type", "model", "Input should be a valid string", body["model"]
        )
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise _validation_error("bool_type", "stream", "Input should be a valid boolean", stream)
    stream_options = body.get("stream_options")
    if stream_options is not None and not stream:
        raise RequestError(
            "Stream options can only be defined when `stream=True`. (parameter=stream_options)",
            param="stream_options",
        )
    if stream_options is not None and not isinstance(stream_options, dict):
        raise _validation_error(
            "model_type", "stream_options", "Input should be a valid dictionary", stream_options
        )
    max_tokens = body.get("max_tokens")
    if max_tokens is None and chat:
        max_tokens = body.get("max_completion_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool)):
        raise _validation_error(
            "int_type", "max_tokens", "Input should be a valid integer", max_tokens
        )
    stop = body.get("stop") or []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise _validation_error("list_type", "stop", "Input should be a valid list", stop)
    if len(stop) > max_stop_strings:
        raise _too_many_stops(len(stop), max_stop_strings)
    if max_tokens is not None and max_tokens < 1:
        raise RequestError(
            f"max_tokens must be at least 1, got {max_tokens}. "
            f"(parameter=max_tokens, value={max_tokens})",
            param="max_tokens",
        )
    if max_tokens is None and not chat:
        max_tokens = COMPLETIONS_DEFAULT_MAX_TOKENS
    return GenerationRequest(
        chat=chat,
        model=body["model"],
        stream=stream,
        # `stream_options: {}` means include_usage (the field defaults to true once present).
        include_usage=stream_options is not None
        and stream_options.get("include_usage", True) is True,
        max_tokens=max_tokens,
        stop=stop,
    )


def check_context(prompt_tokens: int, max_tokens: int | None, max_model_len: int) -> int:
    """vLLM's 400 for a max_tokens above the context or a prompt longer than it; otherwise the
    most tokens the answer may have (vLLM cuts an answer at the end of the context)."""
    if max_tokens is not None and max_tokens > max_model_len:
        raise RequestError(
            f"max_tokens={max_tokens} cannot be greater than max_model_len={max_model_len}. "
            f"Please request fewer output tokens. (parameter=max_tokens, value={max_tokens})",
            param="max_tokens",
        )
    if prompt_tokens > max_model_len:
        # vLLM counts only up to the first token too many.
        over = max_model_len + 1
        raise RequestError(
            f"This model's maximum context length is {max_model_len} tokens. However, your "
            f"prompt contains at least {over} input tokens, which exceeds this limit even "
            "without any output tokens. Please reduce the length of the input prompt. "
            f"(parameter=input_tokens, value={over})",
            param="input_tokens",
        )
    room = max_model_len - prompt_tokens
    return room if max_tokens is None else min(max_tokens, room)
