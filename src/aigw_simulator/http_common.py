"""Request handling the non-vLLM protocols share: read the JSON body, record the request."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from aigw_simulator.recording import RequestRecord
from aigw_simulator.state import Simulator


async def read_json(request: Request) -> Any:
    """The body as JSON, or its text when it is not JSON (recorded as it came)."""
    raw = await request.body()
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def auth_scheme(request: Request) -> str | None:
    """How the request authenticated, without keeping the secret."""
    headers = request.headers
    authorization = headers.get("authorization", "")
    if authorization.startswith("AWS4-HMAC-SHA256 "):
        return "sigv4"
    if authorization.lower().startswith("bearer "):
        return "bearer"
    if "api-key" in headers:
        return "api-key"
    if "x-api-key" in headers:
        return "x-api-key"
    return None


def start_record(
    simulator: Simulator,
    request: Request,
    body: Any,
    *,
    model: str | None = None,
    stream: bool | None = None,
) -> RequestRecord:
    return simulator.recorder.start(
        path=request.url.path,
        body=body,
        request_id=request.headers.get("x-request-id"),
        traceparent=request.headers.get("traceparent"),
        authorization_present="authorization" in request.headers,
        client=f"{request.client.host}:{request.client.port}" if request.client else None,
        model=model,
        stream=stream,
        auth_scheme=auth_scheme(request),
        query=request.url.query,
    )


def presented_key(request: Request) -> str | None:
    """The key an OpenAI-style, Azure or Anthropic client sent, however it sent it."""
    headers = request.headers
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:]
    return headers.get("api-key") or headers.get("x-api-key")
