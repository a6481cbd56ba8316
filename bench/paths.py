"""The ways one request can be sent, as load generator jobs: straight to the simulator, through
aigw's REST shim (GitLab's code completion route, or the OpenAI-compatible one), and through the
router over gRPC. Each path asks for the same answer from the same backend."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from aigw.modelproxy.v1 import model_proxy_service_pb2
from aigw.router.v1 import router_service_pb2
from bench.loadgen import grpc_job_request
from bench.system import ABOVE, FEATURE, Backend, Bench, model_target

STREAM_COMPLETE = "/aigw.router.v1.RouterService/StreamComplete"
STREAM_GENERATE = "/aigw.modelproxy.v1.ModelProxyService/StreamGenerate"
_JSON = [["content-type", "application/json"]]


@dataclass(frozen=True)
class Load:
    """How much to send: `concurrency` workers, until `requests` are done or `duration_s`."""

    concurrency: int
    requests: int | None = None
    duration_s: float | None = None
    mode: str = "stream"
    disconnect_after_s: float = 0.0
    request_id_prefix: str | None = None
    hold_s: float | None = None

    def fields(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "requests": self.requests,
            "duration_s": self.duration_s,
            "mode": self.mode,
            "disconnect_after_s": self.disconnect_after_s,
            "request_id_prefix": self.request_id_prefix,
            "hold_s": self.hold_s,
        }


class Paths:
    """Jobs for one backend: `code_completion(path)` as GitLab's editor extension asks for it,
    `text_completion(path, max_tokens)` with the caller's token count (no post-processing)."""

    def __init__(self, bench: Bench, backend: Backend, direct_completion_body: dict[str, Any]):
        self._bench = bench
        self._backend = backend
        self._direct_completion_body = direct_completion_body

    @property
    def backend_url(self) -> str:
        return self._backend.url

    @property
    def backend_pid(self) -> int:
        return self._backend.process.pid

    @classmethod
    async def learn(cls, bench: Bench, backend: Backend) -> Paths:
        """Send one code completion through aigw and read back, from the simulator's records,
        the exact body the model proxy sent: the direct path sends that same body."""
        paths = cls(bench, backend, {})
        async with httpx.AsyncClient(timeout=30) as client:
            await client.delete(f"{backend.url}/_simulator/requests")
            job = paths.code_completion("rest")
            async with client.stream(
                "POST",
                f"{bench.suite.rest_url}{job['path']}",
                content=job["body"],
                headers=dict(job["headers"]),
            ) as response:
                response.raise_for_status()
                async for _ in response.aiter_raw():
                    break  # the request has reached the model: no need to wait for the end
            records = (await client.get(f"{backend.url}/_simulator/requests")).json()
        body = next(r["body"] for r in records if r["path"] == "/v1/completions")
        return cls(bench, backend, body)

    def code_completion(self, path: str, load: Load | None = None) -> dict[str, Any]:
        if path == "direct":
            job = self._http(self._backend.port, "/v1/completions", self._direct_completion_body)
        elif path == "rest":
            body = {
                "current_file": {
                    "file_name": "fib.py",
                    "content_above_cursor": ABOVE,
                    "content_below_cursor": "",
                },
                "stream": True,
            }
            job = self._http(self._bench.rest_port, "/v2/code/completions", body, auth=True)
        elif path == "proxy":
            job = self._proxy()
        else:
            completion = router_service_pb2.Completion(
                feature=FEATURE,
                code=router_service_pb2.CodeContext(file_name="fib.py", content_above_cursor=ABOVE),
            )
            job = self._grpc(completion)
        return {**job, **(load.fields() if load else {})}

    def _proxy(self) -> dict[str, Any]:
        """The model proxy alone (what the router sends it), to split aigw's cost by hop."""
        body = self._direct_completion_body
        generation = model_proxy_service_pb2.Generation(
            target=model_target(self._backend), prompt=body.get("prompt", ABOVE)
        )
        parameters = generation.parameters
        if "max_tokens" in body:
            parameters.max_tokens = body["max_tokens"]
        if "temperature" in body:
            parameters.temperature = body["temperature"]
        parameters.stop_sequences.extend(body.get("stop", []))
        request = model_proxy_service_pb2.StreamGenerateRequest(generation=generation)
        return {
            "kind": "grpc",
            "address": self._bench.suite.address("model_proxy_svc"),
            "method": STREAM_GENERATE,
            "request_b64": grpc_job_request(request.SerializeToString()),
            "metadata": [["authorization", f"Bearer {self._bench.service_token}"]],
        }

    def text_completion(self, path: str, max_tokens: int, load: Load) -> dict[str, Any]:
        prompt = self._direct_completion_body.get("prompt", ABOVE)
        if path == "direct":
            body = {
                "model": "aigw-simulator",
                "prompt": prompt,
                "max_tokens": max_tokens,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
            job = self._http(self._backend.port, "/v1/completions", body)
        elif path == "rest":
            body = {
                "model": f"feature:{FEATURE}",
                "prompt": prompt,
                "max_tokens": max_tokens,
                "stream": True,
            }
            job = self._http(self._bench.rest_port, "/v1/completions", body, auth=True)
        else:
            completion = router_service_pb2.Completion(
                feature=FEATURE, verbatim=True, prompt=prompt
            )
            completion.parameters.max_tokens = max_tokens
            job = self._grpc(completion)
        return {**job, **load.fields()}

    def _http(
        self, port: int, path: str, body: dict[str, Any], *, auth: bool = False
    ) -> dict[str, Any]:
        headers = list(_JSON)
        if auth:
            headers.append(["authorization", f"Bearer {self._bench.token}"])
        return {
            "kind": "http",
            "host": "127.0.0.1",
            "port": port,
            "path": path,
            "headers": headers,
            "body": json.dumps(body),
        }

    def _grpc(self, completion: router_service_pb2.Completion) -> dict[str, Any]:
        request = router_service_pb2.StreamCompleteRequest(completion=completion)
        return {
            "kind": "grpc",
            "address": self._bench.router_address,
            "method": STREAM_COMPLETE,
            "request_b64": grpc_job_request(request.SerializeToString()),
            "metadata": [["authorization", f"Bearer {self._bench.token}"]],
        }
