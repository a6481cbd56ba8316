"""One simulator on a real socket per module; each test gets a fresh config and no records."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from aigw_simulator import BackgroundSimulator, SimulatorConfig
from aigw_simulator.recorded import RecordedAnswers

TOKENS = 3


@pytest.fixture(scope="module")
def _running() -> Iterator[BackgroundSimulator]:
    with BackgroundSimulator() as sim:
        yield sim


@pytest.fixture
def sim(_running: BackgroundSimulator) -> BackgroundSimulator:
    _running.state.config = SimulatorConfig(tokens=TOKENS)
    _running.state.recorder.clear()
    _running.state.script.clear()
    _running.state.answers = RecordedAnswers([])
    return _running


@pytest.fixture
def http(sim: BackgroundSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, timeout=5) as client:
        yield client
