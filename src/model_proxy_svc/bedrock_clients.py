"""boto3 Bedrock Runtime clients and the worker threads their blocking calls run on.

boto3 is synchronous. Every call (client creation, `converse`, `converse_stream`, and each
read of a stream) runs on a bounded thread pool sized by AIGW_MODEL_PROXY__BEDROCK_MAX_WORKERS,
never on the event loop, so many streams proceed in parallel. Region and credentials come from
the AWS SDK's standard chain (environment, profiles, web identity, container and instance
roles); this module never reads them itself.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.config import Config

from aigw_common.settings import ModelProxySettings

if TYPE_CHECKING:  # the providers package imports this module
    from model_proxy_svc.providers.base import Upstream

_T = TypeVar("_T")
_ClientKey = tuple[str, str, float, float]


class BedrockClients:
    """One `bedrock-runtime` client per (region, endpoint, timeouts), made on first use."""

    def __init__(
        self,
        settings: ModelProxySettings,
        default_endpoint: str | None,
        *,
        ca_bundle: Path | None = None,
    ) -> None:
        self._max_workers = settings.bedrock_max_workers
        # AWS_BEDROCK_RUNTIME_ENDPOINT (a private VPC endpoint) for models that name none.
        self._default_endpoint = default_endpoint or ""
        # AIGW_TLS__OUTBOUND_CA_BUNDLE: the trust store for HTTPS model servers, Bedrock's too.
        self._verify = str(ca_bundle) if ca_bundle is not None else None
        self._executor: ThreadPoolExecutor | None = None
        self._clients: dict[_ClientKey, Any] = {}
        self._lock = threading.Lock()
        self._closed = False

    async def run(self, function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """`function(*args, **kwargs)` on a worker thread."""
        if self._closed:
            raise RuntimeError("the model proxy's Bedrock clients are closed")
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._max_workers, thread_name_prefix="bedrock")
        call = functools.partial(function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def client(self, upstream: Upstream) -> Any:
        """The client for `upstream` (NoRegionError when no region can be found)."""
        key = (
            upstream.region,
            upstream.endpoint or self._default_endpoint,
            upstream.connect_timeout_s,
            upstream.model_timeout_s,
        )
        client = self._clients.get(key)
        if client is None:
            client = await self.run(self._create, key)
        return client

    def _create(self, key: _ClientKey) -> Any:
        region, endpoint, connect_timeout_s, model_timeout_s = key
        with self._lock:  # boto3 sessions are not thread-safe; creation is rare
            client = self._clients.get(key)
            if client is None:
                config = Config(
                    connect_timeout=connect_timeout_s,
                    # Per socket read: a unary `converse` is silent until its whole answer is
                    # ready, so this must cover the model's timeout. Streams are held to the
                    # tighter first-token and idle clocks by deadlines.py, which closes them.
                    read_timeout=model_timeout_s + 1,
                    # Our RetryPolicy owns retries, before the first token only, within the
                    # request's deadline and honouring the server's advice. boto3 retrying too
                    # would multiply the attempts (3 x 3) and wait outside our deadline.
                    retries={"mode": "standard", "total_max_attempts": 1},
                    max_pool_connections=self._max_workers,
                    user_agent_extra="aigw-model-proxy",
                )
                client = boto3.session.Session().client(
                    "bedrock-runtime",
                    region_name=region or None,
                    endpoint_url=endpoint or None,
                    config=config,
                    verify=self._verify,
                )
                self._clients[key] = client
        return client

    async def aclose(self) -> None:
        """Close every client's connections and stop the threads; later use raises."""
        self._closed = True
        clients, self._clients = list(self._clients.values()), {}
        executor, self._executor = self._executor, None
        for client in clients:
            client.close()
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
