"""Outlier ejection per model: a model whose calls keep failing is tried last for a while.

After `after_failures` consecutive failures before a first token, a model is ejected for
`for_s`: the feature's other models are tried before it (it is never dropped, so a feature whose
models are all ejected still tries them). Once the time is up, the next call is a probe; while it
runs the model stays at the back; its success restores the model, its failure ejects it again.
Ejection is per router process and shows in the `model_ejected` gauge and the log.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import TypeVar

import structlog

from aigw_common import metrics
from aigw_common.errors import AigwError
from aigw_common.settings import RouterSettings
from router_svc.attempts import is_model_failure

_log = structlog.get_logger(__name__)

_T = TypeVar("_T")


@dataclass
class _Health:
    failures: int = 0
    ejected_until: float | None = None
    probing: bool = False


class Ejection:
    """Consecutive failures per model name, and the order they imply for a feature's models."""

    def __init__(
        self,
        after_failures: int,
        for_s: float,
        *,
        is_failure: Callable[[AigwError], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._after_failures = after_failures
        self._for_s = for_s
        self._is_failure = is_failure
        self._clock = clock
        self._models: dict[str, _Health] = {}

    def order(self, attempts: Sequence[_T], name: Callable[[_T], str]) -> list[_T]:
        """`attempts` with ejected models moved to the back (a model due a probe stays in
        place, once)."""
        healthy: list[_T] = []
        ejected: list[_T] = []
        for attempt in attempts:
            (ejected if self._skipped(name(attempt)) else healthy).append(attempt)
        return healthy + ejected

    def ejected(self) -> dict[str, float]:
        """Ejected models and the seconds until each is probed (0: due now)."""
        now = self._clock()
        return {
            model: max(health.ejected_until - now, 0.0)
            for model, health in self._models.items()
            if health.ejected_until is not None
        }

    def succeeded(self, model: str) -> None:
        health = self._models.pop(model, None)
        if health is not None and health.ejected_until is not None:
            metrics.MODEL_EJECTED.labels(model).set(0)
            _log.info("model restored after its probe succeeded", model=model)

    def failed(self, model: str, error: AigwError) -> None:
        if not self._after_failures or not self._is_failure(error):
            return
        health = self._models.setdefault(model, _Health())
        health.failures += 1
        if health.probing or health.failures >= self._after_failures:
            health.ejected_until = self._clock() + self._for_s
            health.probing = False
            metrics.MODEL_EJECTED.labels(model).set(1)
            metrics.MODEL_EJECTIONS.labels(model).inc()
            _log.warning(
                "model ejected after consecutive failures",
                model=model,
                failures=health.failures,
                for_s=self._for_s,
                reason=error.reason,
            )

    def _skipped(self, model: str) -> bool:
        health = self._models.get(model)
        if health is None or health.ejected_until is None:
            return False
        if health.probing or self._clock() < health.ejected_until:
            return True
        health.probing = True  # this call is the probe
        return False

    async def observed(
        self, model: str, chunks: AsyncGenerator[_T, None]
    ) -> AsyncGenerator[_T, None]:
        """`chunks`, with the model's first chunk counted as a success and a failure before it
        as a failure."""
        first = True
        async with aclosing(chunks) as source:
            try:
                async for chunk in source:
                    if first:
                        first = False
                        self.succeeded(model)
                    yield chunk
            except AigwError as error:
                if first:
                    self.failed(model, error)
                raise
            finally:
                if first:
                    self._probe_ended(model)

    def _probe_ended(self, model: str) -> None:
        """A probe that ended without an answer or a failure of the model (the caller left):
        the next call probes again."""
        health = self._models.get(model)
        if health is not None:
            health.probing = False


def model_ejection(settings: RouterSettings) -> Ejection:
    """The router's ejection as its settings say."""
    return Ejection(
        settings.eject_after_failures, settings.eject_for_s, is_failure=is_model_failure
    )
