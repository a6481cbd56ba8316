"""Recorded answers: code completions streamed as a real model streams them.

The simulator's own answers (` tok0 tok1 ...`) never start with a newline, never repeat the
code after the cursor and never come fenced in markdown, so they cannot show what the router's
post-processing costs a user. With `--answers FILE` the simulator answers a completion request
with the recorded answer whose `prefix` ends the code before the cursor found in the prompt,
chunk by chunk, at the simulator's pace; a request that matches no recording gets the usual
answer. FILE is JSON: `{"answers": [{"name", "prefix", "suffix", "chunks": [...]}, ...]}`
(bench/data/code_completions.json); the other fields are for the benchmark's caller.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aigw_simulator.scripted import ScriptedReply

# How much of a recording's prefix must end the prompt's code before the cursor: enough to tell
# recordings apart, short enough to survive the router trimming the start of a long prefix.
MATCHED_PREFIX_CHARS = 80
MAX_ANSWERS = 1000


class RecordedAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str
    prefix: str = Field(min_length=1)
    suffix: str = ""
    chunks: tuple[str, ...]


class _File(BaseModel):
    model_config = ConfigDict(extra="ignore")

    answers: list[RecordedAnswer] = Field(max_length=MAX_ANSWERS)


class RecordedAnswers:
    """The recordings of one file, looked up by the prompt they answer."""

    def __init__(self, answers: list[RecordedAnswer]) -> None:
        self._answers = answers

    @classmethod
    def load(cls, path: Path) -> RecordedAnswers:
        return cls(_File.model_validate_json(path.read_bytes()).answers)

    @classmethod
    def parse(cls, answers: list[dict[str, Any]]) -> RecordedAnswers:
        return cls(_File.model_validate({"answers": answers}).answers)

    def __len__(self) -> int:
        return len(self._answers)

    def reply_for(self, body: Any) -> ScriptedReply | None:
        """The recorded answer to a generation request's prompt, if one was recorded."""
        prompt = _prompt_text(body)
        for answer in self._answers:
            # The prompt's suffix is looked for too, so two recordings of one prefix differ.
            if answer.prefix[-MATCHED_PREFIX_CHARS:] in prompt and answer.suffix.strip() in prompt:
                return ScriptedReply(chunks=answer.chunks)
        return None


def _prompt_text(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return prompt
    messages = body.get("messages")
    if isinstance(messages, list):
        return "\n".join(
            message["content"]
            for message in messages
            if isinstance(message, dict) and isinstance(message.get("content"), str)
        )
    return json.dumps(body)
