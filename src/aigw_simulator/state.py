"""The live state of one simulator app, shared by every protocol's routes."""

from __future__ import annotations

from dataclasses import dataclass

from aigw_simulator.config import SimulatorConfig
from aigw_simulator.recording import Recorder


@dataclass
class Simulator:
    """The live state of one simulator app; tests may replace `config` between requests."""

    config: SimulatorConfig
    recorder: Recorder
