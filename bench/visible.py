"""Time to the first *visible* text of realistic code completions, on each GitLab route.

The backend streams recorded answers (bench/data/code_completions.json, served by the
simulator's `--answers`): leading newlines and indentation, answers that repeat the suffix,
fenced answers. A user sees nothing until the first character that is not whitespace reaches
the editor, so that is what is timed, from the request's first byte, through aigw (the router
post-processes: fences dropped, a repeated suffix cut) and straight to the model server with
the exact body the model proxy sent it. Two figures come out:

- per route, the time to first visible text and what aigw adds over direct, also in chunks of
  the model's pace (one chunk = 1 / tokens per second);
- per recorded answer, how many chunks post-processing held each visible character back, from
  replaying the answer through the router's own filters (no timing: exact).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from aigw_prompts import PostProcessing, Step
from bench.scenarios import percentile
from bench.system import Backend, Bench

ANSWERS_FILE = Path(__file__).parent / "data" / "code_completions.json"
ROUTES = ("/v2/code/completions", "/v2/completions", "/v3/code/completions", "/v4/code/suggestions")
_CODE_COMPLETION_STEPS = (Step.STRIP_FENCES, Step.TRIM_SUFFIX_OVERLAP)


def recorded_answers() -> list[dict[str, Any]]:
    answers: list[dict[str, Any]] = json.loads(ANSWERS_FILE.read_text())["answers"]
    return answers


def _body(route: str, answer: dict[str, Any]) -> dict[str, Any]:
    code = {
        "file_name": answer["file_name"],
        "content_above_cursor": answer["prefix"],
        "content_below_cursor": answer["suffix"],
    }
    if route.startswith(("/v3", "/v4")):
        payload = {**code, "language_identifier": answer["language"], "stream": True}
        component = {"type": "code_editor_completion", "payload": payload}
        return {"prompt_components": [component]}
    return {"current_file": code, "stream": True}


def _visible(route: str, received: str) -> bool:
    """Whether the body received so far carries text that is not whitespace."""
    if route in ("/v4/code/suggestions", "direct"):
        for event in received.replace("\r\n", "\n").split("\n\n")[:-1]:
            for line in event.splitlines():
                if not line.startswith("data: {"):
                    continue
                data = json.loads(line.removeprefix("data: "))
                for choice in data.get("choices", []):
                    text = choice.get("text") or choice.get("delta", {}).get("content") or ""
                    if text.strip():
                        return True
        return False
    return bool(received.strip())


async def _first_visible_s(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str], route: str
) -> float | None:
    """Seconds to the first visible text; None when the whole answer had none."""
    started = time.perf_counter()
    async with client.stream("POST", url, json=body, headers=headers) as response:
        response.raise_for_status()
        received = ""
        async for text in response.aiter_text():
            received += text
            if _visible(route, received):
                return time.perf_counter() - started
    return None


async def _direct_bodies(bench: Bench, backend: Backend) -> list[dict[str, Any]]:
    """For each answer, the exact body the model proxy sends the model server."""
    bodies = []
    async with httpx.AsyncClient(timeout=30) as client:
        for answer in recorded_answers():
            await client.delete(f"{backend.url}/_simulator/requests")
            response = await client.post(
                f"{bench.suite.rest_url}{ROUTES[0]}",
                json={**_body(ROUTES[0], answer), "stream": False},
                headers={"authorization": f"Bearer {bench.token}"},
            )
            response.raise_for_status()
            records = (await client.get(f"{backend.url}/_simulator/requests")).json()
            body = next(r["body"] for r in records if r["path"] == "/v1/completions")
            bodies.append({**body, "stream": True})
    return bodies


async def first_visible_text(
    bench: Bench, backend: Backend, rounds: int, chunk_s: float
) -> dict[str, Any]:
    """Per route, time to first visible text (each recorded answer `rounds` times, the routes
    taking turns so that a busy machine weighs on all alike), and the offline hold figures."""
    answers = recorded_answers()
    direct_bodies = await _direct_bodies(bench, backend)
    paths = ("direct", *ROUTES)
    samples: dict[str, list[float]] = {path: [] for path in paths}
    # Per answer and path, to subtract direct answer by answer.
    by_answer: dict[str, list[list[float]]] = {p: [[] for _ in answers] for p in paths}
    auth = {"authorization": f"Bearer {bench.token}"}
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(rounds):
            for index, answer in enumerate(answers):
                for path in paths:
                    if path == "direct":
                        url, body, headers = (
                            f"{backend.url}/v1/completions",
                            direct_bodies[index],
                            {},
                        )
                    else:
                        url, body, headers = bench.suite.rest_url + path, _body(path, answer), auth
                    seconds = await _first_visible_s(client, url, body, headers, path)
                    if seconds is not None:
                        samples[path].append(seconds * 1000)
                        by_answer[path][index].append(seconds * 1000)
    rows: dict[str, Any] = {}
    for path in paths:
        added = [
            aigw - direct
            for index in range(len(answers))
            for aigw, direct in zip(
                by_answer[path][index], by_answer["direct"][index], strict=False
            )
        ]
        rows[path] = {
            "requests": len(samples[path]),
            "p50_ms": percentile(samples[path], 0.5),
            "p99_ms": percentile(samples[path], 0.99),
            "added_p50_ms": percentile(added, 0.5),
            "added_p99_ms": percentile(added, 0.99),
            "added_p50_chunks": percentile(added, 0.5) / (chunk_s * 1000),
        }
    return {"chunk_ms": chunk_s * 1000, "rounds": rounds, "routes": rows, "holds": held_chunks()}


def held_chunks() -> dict[str, Any]:
    """For each recorded answer, in its recorded chunks: how many chunks later than it arrived
    each visible character of the cleaned answer left the router's post-processing."""
    per_answer = {}
    every: list[int] = []
    whitespace: list[int] = []
    for answer in recorded_answers():
        answer_filter = PostProcessing(_CODE_COMPLETION_STEPS, answer["suffix"]).start()
        raw = ""
        arrived: list[int] = []  # per raw character, the chunk it came in
        released = ""
        left: list[int] = []  # per released character, the chunk after which it left
        chunks = answer["chunks"]
        for number, chunk in enumerate(chunks):
            raw += chunk
            arrived += [number] * len(chunk)
            out = answer_filter.feed(chunk)
            released += out
            left += [number] * len(out)
        out = answer_filter.finish()
        released += out
        left += [len(chunks) - 1] * len(out)
        delays = _delays(raw, arrived, released, left)
        visible = [delay for char, delay in delays if not char.isspace()]
        every += visible
        whitespace += [delay for char, delay in delays if char.isspace()]
        per_answer[answer["name"]] = {
            "visible_chars": len(visible),
            "first_visible_delay": visible[0] if visible else None,
            "max_delay": max(visible, default=0),
            "max_whitespace_delay": max(
                (delay for char, delay in delays if char.isspace()), default=0
            ),
        }
    return {
        "answers": per_answer,
        "p50": percentile([float(d) for d in every], 0.5),
        "p99": percentile([float(d) for d in every], 0.99),
        "max": max(every, default=0),
        "whitespace_p50": percentile([float(d) for d in whitespace], 0.5),
        "whitespace_max": max(whitespace, default=0),
    }


def _delays(raw: str, arrived: list[int], released: str, left: list[int]) -> list[tuple[str, int]]:
    """Each released character and the chunks it waited: matched to the raw text in order (the
    filters only drop text, never change it)."""
    delays = []
    position = 0
    for index, char in enumerate(released):
        position = raw.find(char, position)
        delays.append((char, left[index] - arrived[position]))
        position += 1
    return delays
