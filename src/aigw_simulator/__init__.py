"""A simulated vLLM server for development and tests (never used by aigw's own request path).

It speaks vLLM's OpenAI-compatible API byte-faithfully, answers deterministically (token i is
`f" tok{i}"`), and records every request at `GET /_simulator/requests`.
"""

from aigw_simulator.app import build_app, simulator_of
from aigw_simulator.config import SimulatorConfig
from aigw_simulator.plan import simulated_text, simulated_tokens
from aigw_simulator.serving import BackgroundSimulator, run
from aigw_simulator.state import Simulator

__all__ = [
    "BackgroundSimulator",
    "Simulator",
    "SimulatorConfig",
    "build_app",
    "run",
    "simulated_text",
    "simulated_tokens",
    "simulator_of",
]
