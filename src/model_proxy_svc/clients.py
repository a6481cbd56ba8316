"""One pooled HTTP client per model server, created on first use and closed at shutdown."""

from __future__ import annotations

import ssl

import httpx

from aigw_common.request_context import request_id_var
from aigw_common.settings import ModelProxySettings
from aigw_common.tracing import outgoing_headers

# vLLM's server (uvicorn) closes a connection idle for 5 s, httpx's default expiry is the same
# 5 s: a connection could be reused just as the server closed it. Forget idle ones first.
_KEEPALIVE_EXPIRY_S = 4.0
_USER_AGENT = "aigw-model-proxy"


class HttpClients:
    """httpx clients keyed by origin (`scheme://host:port`), so every model served by one
    server shares its connection pool."""

    def __init__(self, settings: ModelProxySettings, *, verify: ssl.SSLContext | bool = True):
        self._settings = settings
        # The trust store for HTTPS model servers (AIGW_TLS__OUTBOUND_CA_BUNDLE).
        self._verify = verify
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._closed = False

    def for_endpoint(self, endpoint: str) -> httpx.AsyncClient:
        """The client for the server behind `endpoint` (a base URL such as http://h:8000/v1)."""
        if self._closed:
            raise RuntimeError("the model proxy's HTTP clients are closed")
        url = httpx.URL(endpoint)
        origin = f"{url.scheme}://{url.host}:{url.port or ''}"
        client = self._clients.get(origin)
        if client is None:
            client = self._clients[origin] = self._new_client()
        return client

    def request_timeout(self, whole_s: float, connect_s: float | None = None) -> httpx.Timeout:
        """Per-request timeouts: connecting is bounded by the model's connect timeout (or the
        setting); reads and writes only by the whole request's budget, which the caller
        enforces as one deadline (with the first-token and idle clocks, see deadlines.py)."""
        connect_s = self._settings.connect_timeout_s if connect_s is None else connect_s
        return httpx.Timeout(
            connect=min(connect_s, whole_s),
            read=whole_s,
            write=whole_s,
            pool=whole_s,
        )

    def _new_client(self) -> httpx.AsyncClient:
        settings = self._settings
        limit = settings.max_connections_per_endpoint
        return httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=settings.connect_timeout_s,
                read=settings.default_timeout_s,
                write=settings.default_timeout_s,
                pool=settings.default_timeout_s,
            ),
            limits=httpx.Limits(
                max_connections=limit,
                max_keepalive_connections=limit,
                keepalive_expiry=_KEEPALIVE_EXPIRY_S,
            ),
            headers={"User-Agent": _USER_AGENT},
            # The model server continues the trace (vLLM exports its own spans when set up to).
            event_hooks={"request": [_add_trace_headers]},
            verify=self._verify,
            # Proxies and certificates come from settings, never from the process environment.
            trust_env=False,
        )

    async def aclose(self) -> None:
        """Close every pool; later use raises."""
        self._closed = True
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


async def _add_trace_headers(request: httpx.Request) -> None:
    request.headers.update(outgoing_headers())


def request_id_header() -> dict[str, str]:
    """The correlation id, as `X-Request-Id`, so it shows in the model server's own logs."""
    request_id = request_id_var.get()
    return {"X-Request-Id": request_id} if request_id else {}
