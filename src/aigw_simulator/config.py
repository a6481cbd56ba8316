"""How the simulated model behaves: its name, how much and how fast it talks, which faults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class SimulatorConfig:
    """Behaviour of the simulated vLLM server; several fields can be overridden per request
    with `X-Simulator-*` headers (see app.py)."""

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
    # vLLM's context window; prompt + max_tokens beyond it is answered with vLLM's 400.
    max_model_len: int = 32768
    # Error body shape: "flat" as vLLM 0.6.4, "nested" as vLLM >= 0.10.1.
    error_shape: Literal["flat", "nested"] = "flat"
    # Fault: answer every generation request with this HTTP status (0 = no fault).
    fail_status: int = 0
    # Fault: in a stream, send vLLM's in-band error event after this many tokens.
    error_after_tokens: int | None = None
    # How many request records to keep (oldest dropped first).
    max_records: int = 10_000
