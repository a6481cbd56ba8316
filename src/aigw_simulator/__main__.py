"""`python -m aigw_simulator`: serve a simulated vLLM model (development and tests only)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from aigw_simulator.config import SimulatorConfig
from aigw_simulator.serving import run


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="aigw-simulator",
        description="A simulated vLLM OpenAI-compatible server, for development and tests.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--model", default=SimulatorConfig.model)
    parser.add_argument("--tokens", type=int, default=SimulatorConfig.tokens)
    parser.add_argument(
        "--tokens-per-second", type=float, default=SimulatorConfig.tokens_per_second
    )
    parser.add_argument(
        "--first-token-delay", type=float, default=SimulatorConfig.first_token_delay_s
    )
    parser.add_argument("--api-key", default=None, help="require this bearer key on /v1 routes")
    parser.add_argument("--error-shape", choices=["flat", "nested"], default="nested")
    parser.add_argument("--max-model-len", type=int, default=SimulatorConfig.max_model_len)
    parser.add_argument("--max-stop-strings", type=int, default=SimulatorConfig.max_stop_strings)
    parser.add_argument("--chat-only", action="store_true", help="serve no /v1/completions")
    parser.add_argument("--answers", type=Path, default=None, help="recorded answers (JSON)")
    args = parser.parse_args(argv)
    config = SimulatorConfig(
        tokens=args.tokens,
        tokens_per_second=args.tokens_per_second,
        first_token_delay_s=args.first_token_delay,
        model=args.model,
        api_key=args.api_key,
        error_shape=args.error_shape,
        max_model_len=args.max_model_len,
        max_stop_strings=args.max_stop_strings,
        chat_only=args.chat_only,
        answers_file=args.answers,
    )
    run(config, args.host, args.port)


if __name__ == "__main__":
    main()
