"""Scripted replies: exact chunks, stop sequences honoured or ignored, HTTP and in-band errors,
in order, over HTTP."""

from __future__ import annotations

import json
from typing import Any

import httpx

from aigw_simulator import simulated_text
from aigw_simulator.plan import Pace
from aigw_simulator.scripted import ScriptedReply

from .conftest import TOKENS

_BODY = {"model": "aigw-simulator", "messages": [{"role": "user", "content": "hi"}]}


def _stream(http: httpx.Client, **extra: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """The content deltas and every chunk of a streamed chat completion."""
    response = http.post("/v1/chat/completions", json={**_BODY, "stream": True, **extra})
    assert response.status_code == 200
    chunks = [
        json.loads(line.removeprefix("data: "))
        for line in response.text.split("\n\n")
        if line.startswith("data: {")
    ]
    texts = [
        choice["delta"].get("content", "")
        for chunk in chunks
        for choice in chunk.get("choices", [])
        if choice["delta"].get("content")
    ]
    return texts, chunks


def test_replies_come_in_order_in_their_chunks_then_the_default(http: httpx.Client) -> None:
    scripted = http.post(
        "/_simulator/replies",
        json={"replies": [{"chunks": ["Final An", "swer: Hi"]}, {"chunks": ["second"]}]},
    )
    assert scripted.json()["replies"][1]["chunks"] == ["second"]

    assert _stream(http)[0] == ["Final An", "swer: Hi"]
    assert _stream(http)[0] == ["second"]
    assert "".join(_stream(http)[0]) == simulated_text(TOKENS)
    assert http.get("/_simulator/replies").json() == {"replies": []}


def test_a_stop_sequence_cuts_the_reply_as_vllm_does(http: httpx.Client) -> None:
    reply = ["Action: x\nAction Input: y\nObser", "vation: invented"]
    http.post("/_simulator/replies", json={"replies": [{"chunks": reply}]})

    texts, chunks = _stream(http, stop=["Observation:"])

    assert "".join(texts) == "Action: x\nAction Input: y\n"
    finish = [
        c["choices"][0] for c in chunks if c.get("choices") and c["choices"][0]["finish_reason"]
    ]
    assert finish[0]["finish_reason"] == "stop"
    assert finish[0]["stop_reason"] == "Observation:"


def test_a_server_ignoring_stop_sends_everything(http: httpx.Client) -> None:
    reply = {"chunks": ["a Observation: b"], "honour_stop": False}
    http.post("/_simulator/replies", json={"replies": [reply]})

    assert _stream(http, stop=["Observation:"])[0] == ["a Observation: b"]


def test_scripted_failures(http: httpx.Client) -> None:
    replies = [
        {"fail_status": 500, "fail_body": {"error": "overloaded_error"}},
        {"fail_status": 503},
        {"chunks": ["one", "two", "three"], "error_after_chunks": 1},
    ]
    http.post("/_simulator/replies", json={"replies": replies})

    first = http.post("/v1/chat/completions", json=_BODY)
    second = http.post("/v1/chat/completions", json=_BODY)
    texts, chunks = _stream(http)

    assert (first.status_code, first.json()) == (500, {"error": "overloaded_error"})
    assert (second.status_code, second.content) == (503, b"")
    assert texts == ["one"]
    assert chunks[-1]["error"]["message"] == "simulated failure after 1 tokens"


def test_a_bad_script_is_refused_and_nothing_is_queued(http: httpx.Client) -> None:
    response = http.post("/_simulator/replies", json={"replies": [{"chunks": "not a list"}]})

    assert response.status_code == 400
    assert http.get("/_simulator/replies").json() == {"replies": []}
    assert http.delete("/_simulator/replies").status_code == 204


def test_max_tokens_caps_a_scripted_reply() -> None:
    plan = ScriptedReply(chunks=("a", "b", "c")).plan(
        max_tokens=2, stop=[], prompt_tokens=1, pace=Pace(0, 0)
    )

    assert (plan.pieces, plan.finish_reason) == (("a", "b"), "length")
