"""What a gRPC server's call lifecycle costs per call and per streamed chunk, in one process.

    python -m bench.lifecycle [--chunks 200000] [--calls 20000] [--rounds 5]

Drives the router's StreamComplete handler exactly as grpc.aio would after interception (the
interceptors' `intercept_service`, then the wrapped behaviour), with every plug the router
installs (metrics, request context, tracing, access log, authentication in trial mode), and
compares it with iterating the servicer's own generator directly. CPU time of this process
only, so other work on the machine moves the figures little; rounds alternate the two paths.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, NamedTuple

import grpc

from aigw.router.v1 import router_service_pb2
from aigw_common.grpc_server import server_interceptors
from aigw_common.settings import LoggingSettings
from router_svc.access_log import AccessLog
from router_svc.authentication import Authentication

METHOD = "/aigw.router.v1.RouterService/StreamComplete"
_REQUEST = router_service_pb2.StreamCompleteRequest(
    completion=router_service_pb2.Completion(feature="code_completions")
)


class _Details(NamedTuple):
    """grpc.HandlerCallDetails, as grpc.aio makes it."""

    method: str
    invocation_metadata: tuple[tuple[str, str], ...]


class _Context:
    """The parts of grpc.aio's ServicerContext the lifecycle uses."""

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("x-request-id", "bench"), ("authorization", "Bearer unused"))

    def set_trailing_metadata(self, metadata: Any) -> None:
        pass

    def code(self) -> None:
        return None

    async def abort_with_status(self, status: Any) -> None:
        raise RuntimeError(f"aborted: {status}")


def _servicer(chunks: int) -> Callable[[Any, Any], AsyncIterator[Any]]:
    response = router_service_pb2.StreamCompleteResponse(text="x")

    async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
        for _ in range(chunks):
            yield response

    return stream


async def _intercepted(chunks: int) -> Callable[[Any, Any], AsyncIterator[Any]]:
    """The servicer's behaviour behind the router's interceptors, as grpc.aio chains them."""
    interceptors = server_interceptors(
        "bench",
        [
            AccessLog(LoggingSettings(), lambda: False),
            Authentication(None, bypass=True),  # type: ignore[arg-type]
        ],
    )
    handler: Any = grpc.unary_stream_rpc_method_handler(_servicer(chunks))
    details = _Details(METHOD, ())

    async def chain(index: int, call_details: Any) -> Any:
        if index == len(interceptors):
            return handler
        return await interceptors[index].intercept_service(
            lambda next_details: chain(index + 1, next_details), call_details
        )

    wrapped = await chain(0, details)
    behavior: Callable[[Any, Any], AsyncIterator[Any]] = wrapped.unary_stream
    return behavior


async def _cpu_s(behavior: Callable[[Any, Any], AsyncIterator[Any]], calls: int) -> float:
    context = _Context()
    started = time.process_time()
    for _ in range(calls):
        async for _response in behavior(_REQUEST, context):
            pass
    return time.process_time() - started


async def measure(chunks: int, calls: int, rounds: int) -> dict[str, float]:
    """Microseconds of CPU per chunk (one long stream) and per call (one-chunk streams), for
    the direct generator and through the lifecycle; medians over `rounds`."""
    per_chunk: dict[str, list[float]] = {"direct": [], "lifecycle": []}
    per_call: dict[str, list[float]] = {"direct": [], "lifecycle": []}
    for _ in range(rounds):
        for path in ("direct", "lifecycle"):
            long_stream = _servicer(chunks) if path == "direct" else await _intercepted(chunks)
            per_chunk[path].append(await _cpu_s(long_stream, 1) / chunks * 1e6)
            one_chunk = _servicer(1) if path == "direct" else await _intercepted(1)
            per_call[path].append(await _cpu_s(one_chunk, calls) / calls * 1e6)
    result = {f"{path}_us_per_chunk": statistics.median(v) for path, v in per_chunk.items()}
    result |= {f"{path}_us_per_call": statistics.median(v) for path, v in per_call.items()}
    result["added_us_per_chunk"] = result["lifecycle_us_per_chunk"] - result["direct_us_per_chunk"]
    result["added_us_per_call"] = result["lifecycle_us_per_call"] - result["direct_us_per_call"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--chunks", type=int, default=200_000)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import structlog

    # The access line of every call would measure the log renderer, not the lifecycle.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    result = asyncio.run(measure(args.chunks, args.calls, args.rounds))
    for name, value in result.items():
        print(f"{name}: {value:.2f}")


if __name__ == "__main__":
    main()
