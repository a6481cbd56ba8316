"""Outlier ejection: a model failing call after call is tried last for a while, then probed."""

from __future__ import annotations

import prometheus_client

from aigw.router.v1 import router_service_pb2
from aigw_cli.local_suite import free_ports
from aigw_common.errors import InvalidArgument, UpstreamUnavailable
from router_svc.attempts import is_model_failure
from router_svc.ejection import Ejection
from tests.router_svc.conftest import Stack


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _ejection(clock: _Clock) -> Ejection:
    return Ejection(3, 30.0, is_failure=is_model_failure, clock=clock)


def test_consecutive_failures_eject_a_model_until_a_probe_succeeds() -> None:
    clock = _Clock()
    ejection = _ejection(clock)
    down = UpstreamUnavailable("refused")

    for _ in range(3):
        assert ejection.order(["a", "b"], str) == ["a", "b"]
        ejection.failed("a", down)
    assert ejection.order(["a", "b"], str) == ["b", "a"]
    assert ejection.ejected() == {"a": 30.0}

    clock.now = 31.0
    assert ejection.order(["a", "b"], str) == ["a", "b"]  # the probe
    assert ejection.order(["a", "b"], str) == ["b", "a"]  # others wait for its outcome
    ejection.succeeded("a")
    assert ejection.order(["a", "b"], str) == ["a", "b"]
    assert ejection.ejected() == {}


def test_a_failed_probe_ejects_again_and_caller_mistakes_do_not_count() -> None:
    clock = _Clock()
    ejection = _ejection(clock)
    for _ in range(3):
        ejection.failed("a", UpstreamUnavailable("refused"))
    clock.now = 31.0
    ejection.order(["a"], str)
    ejection.failed("a", UpstreamUnavailable("refused"))
    assert ejection.ejected() == {"a": 30.0}

    for _ in range(10):
        ejection.failed("b", InvalidArgument("bad temperature"))
    assert "b" not in ejection.ejected()


async def test_a_dead_primary_is_ejected_and_shown_in_metrics(stack: Stack) -> None:
    await stack.add_model("ejected-primary", f"http://127.0.0.1:{free_ports(1)[0]}/v1")
    await stack.add_model("steady-fallback", stack.simulator.endpoint)
    await stack.assign("code_completions", "ejected-primary", "steady-fallback")
    request = router_service_pb2.StreamCompleteRequest(
        completion=router_service_pb2.Completion(
            feature="code_completions",
            code=router_service_pb2.CodeContext(file_name="a.py", content_above_cursor="x"),
        )
    )

    served = []
    for _ in range(6):
        chunks = [
            chunk
            async for chunk in stack.router.StreamComplete(
                request, metadata=stack.metadata("complete_code"), timeout=10
            )
        ]
        served.append(chunks[0].served_by.model)

    assert set(served) == {"steady-fallback"}
    ejected = prometheus_client.REGISTRY.get_sample_value(
        "model_ejected", {"model": "ejected-primary"}
    )
    assert ejected == 1.0
