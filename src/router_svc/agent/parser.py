"""The model's ReAct reply, parsed as it streams, into the agent's events.

The rules are GitLab's gateway's (reference: duo-chat-react.md §7), computed incrementally:

* As soon as the reply holds `Final Answer:`, it is a final answer (even if an action came
  first): the text after the marker (leading whitespace skipped) streams as
  `final_answer_delta`s, up to a literal `</message>`, which ends it for good. Trailing
  whitespace, and text that may be the start of `</message>` or `Observation:`, waits for what
  follows it.
* Otherwise, once the reply has ended: `Action:` with a tool and `Action Input:` is an action
  (checked against the offered tools), anything else is `unknown` with the whole reply.
* `Observation:` is the stop sequence the model was given. A model server that ignores it
  would make the model invent the tool's answer; the reply ends there as if the server had
  stopped, so no invented observation reaches `tool_input` or the answer.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from aigw.router.v1 import router_service_pb2

STOP = "Observation:"
FINAL_ANSWER = "Final Answer:"
END_OF_MESSAGE = "</message>"
TOOL_NOT_AVAILABLE = "tool not available"

# Applied, as GitLab's gateway does, to "<message>Thought: {reply}</message>".
_THOUGHT = re.compile(r"<message>Thought:\s*([\s\S]*?)\s*(?:Action:|Final Answer:)")
_TOOL = re.compile(r"Action:\s*([\s\S]*?)\s*Action")
_TOOL_INPUT = re.compile(r"Action Input:\s*([\s\S]*?)\s*</message>")
_TOOL_ALIASES = {"MergeRequestReader": "merge_request_reader"}
_LONGEST_MARKER = max(len(STOP), len(END_OF_MESSAGE))

Event = router_service_pb2.StreamAgentResponse


class ReactParser:
    """Feed the reply's deltas in order; `finish` when the model is done (or `stopped`)."""

    def __init__(self, offered_tools: Collection[str]) -> None:
        self._offered = offered_tools
        self._reply = ""
        self._answer_start: int | None = None  # where the final answer's text begins
        self._answer_end: int | None = None  # where a `</message>` ended it
        self._sent = 0  # characters of the answer already streamed
        self.stopped = False  # the reply reached the stop sequence

    def feed(self, delta: str) -> list[Event]:
        """The events `delta` completes (at most one final_answer_delta)."""
        if self.stopped or not delta:
            return []
        scanned = len(self._reply)
        self._reply += delta
        stop = self._reply.find(STOP, max(scanned - len(STOP) + 1, 0))
        if stop >= 0:
            self._reply = self._reply[:stop]
            self.stopped = True
        if self._answer_start is None:
            marker = self._reply.find(FINAL_ANSWER, max(scanned - len(FINAL_ANSWER) + 1, 0))
            if marker < 0:
                return []
            self._answer_start = marker + len(FINAL_ANSWER)
        if self._answer_end is None:
            start = max(scanned - len(END_OF_MESSAGE) + 1, self._answer_start)
            end = self._reply.find(END_OF_MESSAGE, start)
            if end >= 0:
                self._answer_end = end
        return self._answer_delta(final=self.stopped)

    def finish(self) -> list[Event]:
        """The events that end the reply: the rest of the final answer, else the action (or
        `tool not available`), else `unknown`."""
        if self._answer_start is not None:
            return self._answer_delta(final=True)
        reply = self._reply.strip()
        wrapped = f"<message>Thought: {reply}</message>"
        tool = _TOOL.search(wrapped)
        tool_input = _TOOL_INPUT.search(wrapped)
        if tool is None or tool_input is None:
            return [Event(unknown=router_service_pb2.AgentUnknown(text=reply))]
        thought = _THOUGHT.search(wrapped)
        name = _unescaped(tool.group(1))
        name = _TOOL_ALIASES.get(name, name)
        if name not in self._offered:
            return [
                Event(
                    error=router_service_pb2.AgentError(message=TOOL_NOT_AVAILABLE, retryable=False)
                )
            ]
        action = router_service_pb2.AgentAction(
            tool=name,
            tool_input=tool_input.group(1),
            thought=_unescaped(thought.group(1)) if thought else "",
        )
        return [Event(action=action)]

    def _answer_delta(self, *, final: bool) -> list[Event]:
        """The answer's text not yet sent that can be sent now (indexes only: no copy of the
        whole answer per chunk)."""
        assert self._answer_start is not None
        reply = self._reply
        end = len(reply) if self._answer_end is None else self._answer_end
        start = self._answer_start
        while start < end and reply[start].isspace():
            start += 1
        if not final and self._answer_end is None:
            end -= _partial_marker_length(reply[max(start, end - _LONGEST_MARKER) : end])
        while end > start and reply[end - 1].isspace():
            end -= 1
        if end - start <= self._sent:
            return []
        delta = reply[start + self._sent : end]
        self._sent = end - start
        return [Event(final_answer_delta=router_service_pb2.AgentFinalAnswerDelta(text=delta))]


def _partial_marker_length(text: str) -> int:
    """How many of `text`'s last characters may begin `</message>` or `Observation:`."""
    longest = 0
    for marker in (END_OF_MESSAGE, STOP):
        for length in range(min(len(marker) - 1, len(text)), longest, -1):
            if text.endswith(marker[:length]):
                longest = length
                break
    return longest


def _unescaped(text: str) -> str:
    # Markdown-escaped underscores, as a model copying Rails' stored steps may write them.
    return text.replace("\\_", "_")
