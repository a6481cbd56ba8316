"""One pooled client per model server origin, closed at shutdown."""

from __future__ import annotations

import pytest

from aigw_common.settings import ModelProxySettings
from model_proxy_svc.clients import HttpClients


async def test_one_client_per_origin() -> None:
    clients = HttpClients(
        ModelProxySettings(port=0, connect_timeout_s=2, max_connections_per_endpoint=7)
    )
    try:
        first = clients.for_endpoint("http://vllm-a:8000/v1")
        assert clients.for_endpoint("http://vllm-a:8000/v1/") is first
        assert clients.for_endpoint("http://vllm-a:8000/other/v1") is first
        assert clients.for_endpoint("http://vllm-b:8000/v1") is not first
        assert clients.for_endpoint("https://vllm-a:8000/v1") is not first
        assert first.timeout.connect == 2
        assert clients.request_timeout(0.5).connect == 0.5
        assert clients.request_timeout(30).read == 30
    finally:
        await clients.aclose()

    assert first.is_closed
    with pytest.raises(RuntimeError):
        clients.for_endpoint("http://vllm-a:8000/v1")
