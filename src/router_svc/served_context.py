"""The context length each model server serves, asked once (through the model proxy's
ListProviderModels: vLLM reports `max_model_len` per model) and remembered for a while.

A model's own `limits.context_tokens` wins and is never asked for. A server that does not say,
or cannot be asked, leaves 0 (the family's window applies); a failed lookup is remembered too,
so an unreachable server costs one short wait per `ttl_s`, not one per request.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import structlog

from aigw.common.v1 import common_pb2
from aigw_common.errors import AigwError

if TYPE_CHECKING:
    from router_svc.model_proxy_client import ModelProxyClient

_log = structlog.get_logger(__name__)

# Only these platforms report a served context.
_REPORTING_PLATFORMS = (common_pb2.PLATFORM_OPENAI_COMPATIBLE,)
_Key = tuple[str, str, bytes, str]


class ServedContext:
    """Served context lengths by (endpoint, identifier, key), each valid for `ttl_s`."""

    def __init__(
        self,
        proxy: ModelProxyClient,
        *,
        ttl_s: float,
        timeout_s: float,
        max_entries: int = 1024,
    ) -> None:
        self._proxy = proxy
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._max_entries = max_entries
        self._known: dict[_Key, tuple[float, int]] = {}
        self._asking: dict[_Key, asyncio.Task[int]] = {}

    async def context_tokens(self, target: common_pb2.ModelTarget) -> int:
        """The model's context in tokens, or 0 when neither the model nor its server says."""
        if target.limits.context_tokens > 0:
            return target.limits.context_tokens
        if target.platform not in _REPORTING_PLATFORMS:
            return 0
        key = (target.endpoint, target.identifier, target.sealed_api_key, target.request_api_key)
        known = self._known.get(key)
        if known is not None and known[0] > time.monotonic():
            return known[1]
        task = self._asking.get(key)
        if task is None:
            # One question per server at a time, whoever waits for it; shielded so that one
            # caller leaving does not cancel the answer the others wait for.
            task = asyncio.ensure_future(self._ask(key, target))
            self._asking[key] = task
        return await asyncio.shield(task)

    async def _ask(self, key: _Key, target: common_pb2.ModelTarget) -> int:
        try:
            listed = await self._proxy.list_models(target, timeout_s=self._timeout_s)
            tokens = next(
                (m.context_tokens for m in listed.models if m.identifier == target.identifier), 0
            )
        except AigwError as error:
            _log.warning(
                "cannot learn the served context; using the family's window",
                model=target.name,
                error=error.message,
            )
            tokens = 0
        finally:
            self._asking.pop(key, None)
        if len(self._known) >= self._max_entries:
            self._known.clear()
        self._known[key] = (time.monotonic() + self._ttl_s, tokens)
        return tokens
