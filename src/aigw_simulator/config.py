"""How the simulated model behaves: its name, how much and how fast it talks, which faults."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass
class SimulatorConfig:
    """Behaviour of the simulated model servers (vLLM, Azure OpenAI, Bedrock, Anthropic, all
    served by one app); several fields can be overridden per request with `X-Simulator-*`
    headers (see app.py). `model` is also the Azure deployment and the Bedrock model id, and
    `api_key` the key every protocol checks (Bedrock's SigV4 signature is never checked)."""

    # Tokens the model "wants" to say before its end-of-sequence; `max_tokens` caps it.
    tokens: int = 32
    # Generation speed; 0 means as fast as possible.
    tokens_per_second: float = 0
    # Time from receiving the request to the first token (prefill).
    first_token_delay_s: float = 0.0
    # The served model name; requests naming another model get vLLM's 404.
    model: str = "aigw-simulator"
    # When set, every /v1 route needs `Authorization: Bearer <api_key>` (vLLM's --api-key).
    api_key: str | None = None
    # vLLM's --max-model-len, advertised in /v1/models: a prompt longer than it, or a
    # max_tokens above it, is answered with vLLM's 400; a longer answer is cut to fit.
    max_model_len: int = 32768
    # vLLM's VLLM_MAX_STOP_STRINGS: more stop strings are refused with its 400.
    max_stop_strings: int = 4
    # Serve only chat completions: /v1/completions answers 404, as on servers without it.
    chat_only: bool = False
    # Error body shape: "nested" as vLLM >= 0.10.1 (0.32.0 is the one proven in CI), "flat"
    # as vLLM 0.6.4.
    error_shape: Literal["flat", "nested"] = "nested"
    # Fault: answer generation requests with this HTTP status (0 = no fault), in each
    # protocol's error shape (Bedrock: the matching exception; 529 is Anthropic's overloaded).
    fail_status: int = 0
    # With fail_status: fail only this many more requests, then answer normally (None = all).
    fail_count: int | None = None
    # With a 429/503 fault: the Retry-After to send, in seconds (Azure adds retry-after-ms).
    retry_after_s: float | None = None
    # Fault: in a stream, send the protocol's in-band error after this many tokens.
    error_after_tokens: int | None = None
    # Fault: in a stream, go silent after this many tokens, keeping the connection open.
    stall_after_tokens: int | None = None
    # Fault: in a stream, drop the connection (mid-frame) after this many tokens.
    cut_after_tokens: int | None = None
    # How many request records to keep (oldest dropped first).
    max_records: int = 10_000
    # Recorded code-completion answers to stream for the prompts they answer (recorded.py).
    answers_file: Path | None = None
