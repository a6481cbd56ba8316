"""Server-sent event framing: the exact bytes GitLab's gateway and OpenAI send."""

from __future__ import annotations

from rest_shim.sse import sse_event


def test_an_event_name_comes_before_its_data_and_lines_end_in_crlf() -> None:
    assert sse_event("null", event="stream_end") == b"event: stream_end\r\ndata: null\r\n\r\n"


def test_openai_streams_end_lines_in_lf() -> None:
    assert sse_event("[DONE]", sep="\n") == b"data: [DONE]\n\n"


def test_data_spanning_lines_becomes_one_field_per_line() -> None:
    assert sse_event("a\nb\r\nc\rd", sep="\n") == b"data: a\ndata: b\ndata: c\ndata: d\n\n"


def test_an_event_name_never_spans_lines() -> None:
    assert sse_event("1", event="x\ny") == b"event: xy\r\ndata: 1\r\n\r\n"
