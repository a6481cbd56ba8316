from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from aigw_simulator import BackgroundSimulator, simulated_text
from aigw_simulator.app import build_app, simulator_of
from aigw_simulator.config import SimulatorConfig
from aigw_simulator.recorded import RecordedAnswers

from .conftest import TOKENS

BENCH_ANSWERS = Path(__file__).parents[2] / "bench" / "data" / "code_completions.json"


def _streamed_texts(http: httpx.Client, prompt: str) -> list[str]:
    body = {"model": "aigw-simulator", "prompt": prompt, "stream": True, "max_tokens": 64}
    response = http.post("/v1/completions", json=body)
    assert response.status_code == 200
    events = [
        json.loads(line.removeprefix("data: "))
        for line in response.text.split("\n\n")
        if line.startswith("data: {")
    ]
    return [choice["text"] for event in events for choice in event["choices"] if choice["text"]]


def test_a_prompt_holding_a_recorded_prefix_gets_its_answer_in_its_chunks(
    sim: BackgroundSimulator, http: httpx.Client
) -> None:
    recorded = RecordedAnswers.load(BENCH_ANSWERS)
    sim.state.answers = recorded
    answer = json.loads(BENCH_ANSWERS.read_text())["answers"][1]
    prompt = f"[SUFFIX]{answer['suffix']}[PREFIX]{answer['prefix']}"
    assert _streamed_texts(http, prompt) == answer["chunks"]
    # A prompt no recording answers gets the simulator's own answer.
    assert "".join(_streamed_texts(http, "[SUFFIX][PREFIX]x = ")) == simulated_text(TOKENS)


def test_two_recordings_of_one_prefix_are_told_apart_by_their_suffix(
    sim: BackgroundSimulator, http: httpx.Client
) -> None:
    sim.state.answers = RecordedAnswers.parse(
        [
            {"name": "a", "prefix": "x = ", "suffix": "\nprint(x)\n", "chunks": ["1"]},
            {"name": "b", "prefix": "x = ", "suffix": "\nprint(-x)\n", "chunks": ["2"]},
        ]
    )
    assert _streamed_texts(http, "[SUFFIX]\nprint(-x)\n[PREFIX]x = ") == ["2"]


def test_the_bench_recordings_load_and_a_bad_file_is_refused(tmp_path: Path) -> None:
    app = build_app(SimulatorConfig(answers_file=BENCH_ANSWERS))
    assert len(simulator_of(app).answers) >= 8
    bad = tmp_path / "answers.json"
    bad.write_text(json.dumps({"answers": [{"name": "no prefix", "chunks": ["x"]}]}))
    with pytest.raises(ValidationError, match="prefix"):
        RecordedAnswers.load(bad)
