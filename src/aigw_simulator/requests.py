"""Validation of request bodies the way vLLM 0.6.4 does it: unknown fields are refused, as are
`suffix`, `stream_options` without `stream`, and prompts that do not fit the context window."""

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

    def __init__(self, message: str, status: int = 400, err_type: str = "BadRequestError") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.err_type = err_type


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


def parse_generation(body: Any, *, chat: bool) -> GenerationRequest:
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
            "[{'type': 'value_error', 'loc': ('body',), 'msg': 'Value error, Stream options "
            "can only be defined when `stream=True`.'}]"
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
    if max_tokens is not None and max_tokens < 1:
        raise RequestError(f"max_tokens must be at least 1, got {max_tokens}.")
    if max_tokens is None and not chat:
        max_tokens = COMPLETIONS_DEFAULT_MAX_TOKENS
    stop = body.get("stop") or []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise _validation_error("list_type", "stop", "Input should be a valid list", stop)
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


def check_context(prompt_tokens: int, max_tokens: int | None, max_model_len: int) -> None:
    """vLLM's 400 when the prompt plus the answer cannot fit the context window."""
    if max_tokens is None:
        if prompt_tokens >= max_model_len:
            raise RequestError(
                f"This model's maximum context length is {max_model_len} tokens. However, you "
                f"requested {prompt_tokens} tokens in the messages, Please reduce the length of "
                "the messages."
            )
        return
    if prompt_tokens + max_tokens > max_model_len:
        raise RequestError(
            f"This model's maximum context length is {max_model_len} tokens. However, you "
            f"requested {prompt_tokens + max_tokens} tokens ({prompt_tokens} in the messages, "
            f"{max_tokens} in the completion). Please reduce the length of the messages or "
            "completion."
        )
