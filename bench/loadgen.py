"""The load generator, in a process of its own so that its CPU is not the suite's.

`python -m bench.loadgen` reads jobs (one JSON object a line) on stdin and answers each with one
JSON line on stdout: a sample per request and the CPU time the process spent on the job. The
orchestrator (`LoadGenerator`) keeps one such process for a whole run.

Clients are as lean as Python allows: HTTP/1.1 with h11 on asyncio streams (uvloop), one
kept-alive connection per concurrent worker; gRPC with grpc.aio on raw bytes (no protobuf
decoding). A job:

    {"kind": "http", "host": ..., "port": ..., "path": ..., "headers": [[k, v], ...],
     "body": "...", "concurrency": 32, "requests": 640, "duration_s": null,
     "mode": "stream" | "disconnect", "disconnect_after_s": 0.0, "request_id_prefix": "r1",
     "hold_s": null}
    {"kind": "grpc", "address": ..., "method": "/pkg.Svc/Method", "request_b64": ...,
     "metadata": [[k, v], ...], ...same load fields...}

A sample is `[started_wall_s, ttft_s, total_s, bytes, error, closed_wall_s]`; `error` is None
or a short text, `closed_wall_s` is when the client closed the stream: a "disconnect" job right
after the first chunk (and `disconnect_after_s`), a job with `hold_s` once that many seconds
have passed since the job began.
"""

from __future__ import annotations

import asyncio
import base64
import json
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import grpc
import h11
import uvloop

Sample = list[Any]
_READ_SIZE = 65536


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    state: h11.Connection = field(default_factory=lambda: h11.Connection(h11.CLIENT))


class _HttpPool:
    """Idle kept-alive connections per (host, port), reused across jobs."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[_Connection]] = {}

    async def get(self, host: str, port: int, *, fresh: bool) -> _Connection:
        idle = self._idle.get((host, port))
        if idle and not fresh:
            return idle.pop()
        reader, writer = await asyncio.open_connection(host, port, limit=_READ_SIZE)
        return _Connection(reader, writer)

    def put(self, host: str, port: int, connection: _Connection) -> None:
        if connection.state.our_state is h11.DONE and connection.state.their_state is h11.DONE:
            connection.state.start_next_cycle()
            self._idle.setdefault((host, port), []).append(connection)
        else:
            connection.writer.close()


def _held_enough(job: dict[str, Any]) -> bool:
    """A "hold_s" job closes every stream once that long has passed since the job began."""
    hold_s = job.get("hold_s")
    return hold_s is not None and time.perf_counter() - job["_started"] >= hold_s


class _Runner:
    def __init__(self) -> None:
        self._pool = _HttpPool()
        self._channels: dict[str, grpc.aio.Channel] = {}

    async def run(self, job: dict[str, Any]) -> dict[str, Any]:
        one = self._http_one if job["kind"] == "http" else self._grpc_one
        samples: list[Sample] = []
        total = job.get("requests")
        duration_s = job.get("duration_s")
        started = time.perf_counter()
        job["_started"] = started
        cpu_started = _cpu_s()
        end_at = started + duration_s if duration_s else None
        counter = iter(range(total if total is not None else 1 << 62))

        async def worker() -> None:
            for index in counter:
                if end_at is not None and time.perf_counter() >= end_at:
                    return
                samples.append(await one(job, index))

        await asyncio.gather(*(worker() for _ in range(job["concurrency"])))
        return {
            "samples": samples,
            "cpu_s": _cpu_s() - cpu_started,
            "wall_s": time.perf_counter() - started,
        }

    async def _http_one(self, job: dict[str, Any], index: int) -> Sample:
        sample = await self._http_attempt(job, index, fresh=False)
        if sample[4] is not None and sample[3] == 0 and sample[1] == 0:
            # A kept-alive connection the server had closed (idle timeout): as any HTTP
            # client does, try once more on a new connection.
            sample = await self._http_attempt(job, index, fresh=True)
        return sample

    async def _http_attempt(self, job: dict[str, Any], index: int, *, fresh: bool) -> Sample:
        host, port = job["host"], job["port"]
        headers = [(k.encode(), v.encode()) for k, v in job["headers"]]
        body: bytes = job["_body"]
        headers += [
            (b"host", f"{host}:{port}".encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        if prefix := job.get("request_id_prefix"):
            headers.append((b"x-request-id", f"{prefix}-{index}".encode()))
        disconnect = job.get("mode") == "disconnect"
        wall = time.time()
        started = time.perf_counter()
        first = 0.0
        received = 0
        closed = 0.0
        connection: _Connection | None = None
        try:
            connection = await self._pool.get(host, port, fresh=fresh)
            state = connection.state
            request = h11.Request(method="POST", target=job["path"], headers=headers)
            connection.writer.write(state.send(request) + state.send(h11.Data(data=body)))
            connection.writer.write(state.send(h11.EndOfMessage()))
            status = 0
            while True:
                event = state.next_event()
                if event is h11.NEED_DATA:
                    data = await connection.reader.read(_READ_SIZE)
                    state.receive_data(data)
                    continue
                if isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.Data) and event.data:
                    received += len(event.data)
                    if not first:
                        first = time.perf_counter() - started
                        if disconnect:
                            await asyncio.sleep(job.get("disconnect_after_s", 0.0))
                    if disconnect or _held_enough(job):
                        closed = time.time()
                        connection.writer.close()
                        connection = None
                        break
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    break
            error = None if status == 200 else f"HTTP {status}"
            if isinstance(event, h11.ConnectionClosed):
                error = "connection closed early"
        except (OSError, h11.ProtocolError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:80]
        finally:
            if connection is not None:
                self._pool.put(host, port, connection)
        return [wall, first, time.perf_counter() - started, received, error, closed]

    async def _grpc_one(self, job: dict[str, Any], index: int) -> Sample:
        channel = self._channels.get(job["address"])
        if channel is None:
            channel = grpc.aio.insecure_channel(job["address"])
            self._channels[job["address"]] = channel
        # No (de)serializers: requests and responses stay bytes.
        method: grpc.aio.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(
            job["method"]
        )
        metadata = [tuple(pair) for pair in job["metadata"]]
        if prefix := job.get("request_id_prefix"):
            metadata.append(("x-request-id", f"{prefix}-{index}"))
        disconnect = job.get("mode") == "disconnect"
        wall = time.time()
        started = time.perf_counter()
        first = 0.0
        received = 0
        closed = 0.0
        error = None
        call = method(job["_request"], metadata=metadata, timeout=600)
        try:
            async for message in call:
                received += len(message)
                if not first:
                    first = time.perf_counter() - started
                    if disconnect:
                        await asyncio.sleep(job.get("disconnect_after_s", 0.0))
                if disconnect or _held_enough(job):
                    closed = time.time()
                    call.cancel()
                    break
        except grpc.aio.AioRpcError as exc:
            error = f"{exc.code().name}: {exc.details()}"[:80]
        return [wall, first, time.perf_counter() - started, received, error, closed]

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()


async def _serve() -> None:
    # The suite may hold thousands of streams; each is a socket here too.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    runner = _Runner()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        job = json.loads(line)
        job["_body"] = job.get("body", "").encode()
        job["_request"] = base64.b64decode(job.get("request_b64", ""))
        result = await runner.run(job)
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    await runner.close()


class LoadGenerator:
    """The orchestrator's handle on a load generator process."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._lock = asyncio.Lock()

    @classmethod
    async def start(cls) -> LoadGenerator:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.loadgen",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 28,
        )
        return cls(process)

    async def run(self, job: dict[str, Any]) -> dict[str, Any]:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        async with self._lock:
            self._process.stdin.write(json.dumps(job).encode() + b"\n")
            await self._process.stdin.drain()
            line = await self._process.stdout.readline()
        if not line:
            raise RuntimeError("the load generator exited")
        result: dict[str, Any] = json.loads(line)
        return result

    async def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            await asyncio.wait_for(self._process.wait(), 10)
        except TimeoutError:
            self._process.kill()
            await self._process.wait()


def grpc_job_request(request: bytes) -> str:
    return base64.b64encode(request).decode()


def main() -> None:
    uvloop.run(_serve())


if __name__ == "__main__":
    main()
