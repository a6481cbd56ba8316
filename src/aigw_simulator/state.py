"""The live state of one simulator app, shared by every protocol's routes."""

from __future__ import annotations

from dataclasses import dataclass, field

from aigw_simulator.config import SimulatorConfig
from aigw_simulator.recorded import RecordedAnswers
from aigw_simulator.recording import Recorder
from aigw_simulator.scripted import ReplyScript


@dataclass
class Simulator:
    """The live state of one simulator app; tests may replace `config` between requests."""

    config: SimulatorConfig
    recorder: Recorder
    # Exact replies to answer with, in order (scripted.py).
    script: ReplyScript = field(default_factory=ReplyScript)
    # Realistic code-completion answers by prompt (recorded.py); empty: none.
    answers: RecordedAnswers = field(default_factory=lambda: RecordedAnswers([]))
