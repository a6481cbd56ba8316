"""What each platform sends and how its own failures read, beyond what all share
(test_platforms.py): Azure's URLs and auth, Bedrock's Converse shape, region, credentials and
parallel streams, Anthropic's headers and top-level system prompt."""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import grpc.aio
import pytest

from aigw.common.v1 import common_pb2
from aigw.modelproxy.v1 import model_proxy_service_pb2 as pb
from aigw.modelproxy.v1 import model_proxy_service_pb2_grpc as pb_grpc
from aigw_common.interceptors.service_auth import ServiceAuth
from aigw_common.secrets_box import SecretsBox
from aigw_common.settings import Settings
from aigw_simulator import BackgroundSimulator, SimulatorConfig, simulated_text
from model_proxy_svc.clients import HttpClients
from model_proxy_svc.server import build_server
from tests.model_proxy_svc.conftest import Proxy, details, failure
from tests.model_proxy_svc.platforms import ANTHROPIC, AZURE, AZURE_V1, BEDROCK, BEDROCK_MODEL


@pytest.fixture(scope="module")
def _sim() -> Iterator[BackgroundSimulator]:
    with BackgroundSimulator() as sim:
        yield sim


@pytest.fixture
def sim(_sim: BackgroundSimulator) -> BackgroundSimulator:
    _sim.state.recorder.clear()
    return _sim


def _use(sim: BackgroundSimulator, model: str, **config: Any) -> None:
    sim.state.config = SimulatorConfig(**{"tokens": 4, "model": model, **config})


def _with_system(generation: pb.Generation) -> pb.Generation:
    generation.chat.messages.insert(
        0, common_pb2.Message(role=common_pb2.ROLE_SYSTEM, content="Be brief.")
    )
    generation.parameters.stop_sequences.append("tok9")
    generation.parameters.stop_token_ids.append(2)
    generation.parameters.temperature = 0.2
    return generation


def _one(sim: BackgroundSimulator) -> dict[str, Any]:
    (record,) = sim.state.recorder.snapshot()
    return record


# Azure OpenAI


async def test_azure_deployment_url_api_key_and_body(
    proxy: Proxy, sim: BackgroundSimulator, secrets: SecretsBox
) -> None:
    _use(sim, AZURE.model, api_key="azure-key-123")
    generation = _with_system(AZURE.chat(sim, sealed_api_key=secrets.seal("azure-key-123")))

    await proxy.stub.Generate(pb.GenerateRequest(generation=generation), timeout=10)

    record = _one(sim)
    assert record["path"] == "/openai/deployments/gpt-4o/chat/completions"
    assert record["query"] == "api-version=2024-10-21"
    assert record["auth_scheme"] == "api-key"
    # The deployment is in the URL; vLLM-only fields (stop_token_ids) are never sent.
    assert record["body"] == {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello there"},
        ],
        "temperature": 0.2,
        "stop": ["tok9"],
        "stream": False,
    }


async def test_azure_v1_path_with_entra_bearer(
    proxy: Proxy, sim: BackgroundSimulator, secrets: SecretsBox
) -> None:
    _use(sim, AZURE_V1.model, api_key="entra-token")
    options = common_pb2.AzureOptions(
        api=common_pb2.AZURE_API_V1, auth=common_pb2.AZURE_AUTH_ENTRA_BEARER
    )
    generation = AZURE_V1.chat(sim, azure=options, sealed_api_key=secrets.seal("entra-token"))

    chunks = [
        c
        async for c in proxy.stub.StreamGenerate(
            pb.StreamGenerateRequest(generation=generation), timeout=10
        )
    ]

    assert "".join(c.text for c in chunks) == simulated_text(4)
    record = _one(sim)
    assert record["path"] == "/openai/v1/chat/completions"
    assert record["auth_scheme"] == "bearer"
    assert record["body"]["model"] == "gpt-4o"
    assert record["body"]["stream_options"] == {"include_usage": True}


async def test_azure_default_api_version_comes_from_settings(
    proxy: Proxy, sim: BackgroundSimulator
) -> None:
    _use(sim, AZURE.model)
    generation = AZURE.chat(sim, azure=common_pb2.AzureOptions())

    await proxy.stub.Generate(pb.GenerateRequest(generation=generation), timeout=10)

    assert _one(sim)["query"] == "api-version=2024-10-21"


async def test_azure_unknown_deployment_and_wrong_key_are_explained(
    proxy: Proxy, sim: BackgroundSimulator, secrets: SecretsBox
) -> None:
    _use(sim, AZURE.model, api_key="right-key")
    unknown = AZURE.chat(sim, identifier="gpt-5", sealed_api_key=secrets.seal("right-key"))
    wrong_key = AZURE.chat(sim, sealed_api_key=secrets.seal("wrong-key-77"))

    missing = await failure(proxy, unknown, streamed=True)
    refused = await failure(proxy, wrong_key, streamed=False)

    assert missing.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "the resource has no deployment 'gpt-5'" in details(missing)
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "check the model's API key" in details(refused)
    assert "wrong-key-77" not in details(refused) + repr(refused.trailing_metadata())


# Bedrock


async def test_bedrock_converse_request_shape(
    proxy: Proxy, sim: BackgroundSimulator, aws_environment: None
) -> None:
    _use(sim, BEDROCK_MODEL)
    generation = _with_system(BEDROCK.chat(sim))
    generation.parameters.max_tokens = 3

    call = proxy.stub.StreamGenerate(
        pb.StreamGenerateRequest(generation=generation),
        metadata=(("x-request-id", "req-bedrock-1"),),
        timeout=10,
    )
    chunks = [c async for c in call]

    assert "".join(c.text for c in chunks) == simulated_text(3)
    assert chunks[-1].finish_reason == common_pb2.FINISH_REASON_LENGTH
    record = _one(sim)
    assert record["path"] == f"/model/{BEDROCK_MODEL}/converse-stream"
    assert record["auth_scheme"] == "sigv4"
    assert record["body"] == {
        "messages": [{"role": "user", "content": [{"text": "hello there"}]}],
        "system": [{"text": "Be brief."}],
        "inferenceConfig": {"maxTokens": 3, "temperature": 0.2, "stopSequences": ["tok9"]},
        "requestMetadata": {"x-request-id": "req-bedrock-1"},
    }


async def test_bedrock_inference_profile_arn(
    proxy: Proxy, sim: BackgroundSimulator, aws_environment: None
) -> None:
    arn = f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{BEDROCK_MODEL}"
    _use(sim, arn)
    generation = BEDROCK.chat(sim, identifier=arn)

    response = await proxy.stub.Generate(pb.GenerateRequest(generation=generation), timeout=10)

    assert response.text == simulated_text(4)
    assert _one(sim)["model"] == arn


async def test_bedrock_without_region_or_credentials(
    proxy: Proxy, sim: BackgroundSimulator, aws_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(sim, BEDROCK_MODEL)
    no_region = BEDROCK.chat(sim, bedrock=common_pb2.BedrockOptions())
    region_error = await failure(proxy, no_region, streamed=True)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    no_keys = BEDROCK.chat(sim, bedrock=common_pb2.BedrockOptions(region="eu-west-3"))
    keys_error = await failure(proxy, no_keys, streamed=False)

    assert region_error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "no AWS region" in details(region_error)
    assert keys_error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "no AWS credentials found" in details(keys_error)
    assert sim.state.recorder.snapshot() == []


@pytest.fixture
async def vpc_proxy(
    settings: Settings, secrets: SecretsBox, sim: BackgroundSimulator
) -> AsyncIterator[Proxy]:
    """A proxy whose AWS_BEDROCK_RUNTIME_ENDPOINT is the simulator."""
    vpc = settings.model_copy(update={"aws_bedrock_runtime_endpoint": sim.base_url})
    clients = HttpClients(vpc.model_proxy)
    server, port = await build_server(
        vpc, clients=clients, secrets=secrets, auth=ServiceAuth.disabled_for_tests()
    )
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield Proxy(pb_grpc.ModelProxyServiceStub(channel), channel, clients)
    await server.stop(0)
    await clients.aclose()


async def test_bedrock_endpoint_defaults_to_the_vpc_endpoint_setting(
    vpc_proxy: Proxy, sim: BackgroundSimulator, aws_environment: None
) -> None:
    _use(sim, BEDROCK_MODEL)
    generation = BEDROCK.chat(sim, endpoint="")

    response = await vpc_proxy.stub.Generate(pb.GenerateRequest(generation=generation), timeout=10)

    assert response.text == simulated_text(4)


async def test_bedrock_streams_run_in_parallel(
    proxy: Proxy, sim: BackgroundSimulator, aws_environment: None
) -> None:
    # One stream takes about 1 s (10 tokens at 10 per second).
    _use(sim, BEDROCK_MODEL, tokens=10, tokens_per_second=10)

    async def one() -> str:
        call = proxy.stub.StreamGenerate(
            pb.StreamGenerateRequest(generation=BEDROCK.chat(sim)), timeout=30
        )
        return "".join([c.text async for c in call])

    started = time.monotonic()
    assert await one() == simulated_text(10)
    alone = time.monotonic() - started
    started = time.monotonic()
    answers = await asyncio.gather(*(one() for _ in range(20)))
    together = time.monotonic() - started

    assert answers == [simulated_text(10)] * 20
    assert together < 3 * alone, f"20 streams took {together:.2f} s, one took {alone:.2f} s"


# Anthropic


async def test_anthropic_headers_system_and_max_tokens(
    proxy: Proxy, sim: BackgroundSimulator, secrets: SecretsBox
) -> None:
    _use(sim, ANTHROPIC.model, api_key="sk-ant-test")
    generation = _with_system(
        ANTHROPIC.chat(
            sim,
            sealed_api_key=secrets.seal("sk-ant-test"),
            limits=common_pb2.ModelLimits(max_output_tokens=512),
        )
    )

    chunks = [
        c
        async for c in proxy.stub.StreamGenerate(
            pb.StreamGenerateRequest(generation=generation), timeout=10
        )
    ]

    assert "".join(c.text for c in chunks) == simulated_text(4)
    record = _one(sim)
    assert record["path"] == "/v1/messages"
    assert record["auth_scheme"] == "x-api-key"
    assert record["body"] == {
        "model": ANTHROPIC.model,
        "max_tokens": 512,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "hello there"}],
        "temperature": 0.2,
        "stop_sequences": ["tok9"],
        "stream": True,
    }


async def test_anthropic_plain_prompt_is_one_user_message(
    proxy: Proxy, sim: BackgroundSimulator
) -> None:
    _use(sim, ANTHROPIC.model)
    generation = pb.Generation(target=ANTHROPIC.target(sim), prompt="def add(a, b):")

    response = await proxy.stub.Generate(pb.GenerateRequest(generation=generation), timeout=10)

    assert response.text == simulated_text(4)
    assert response.usage.input_tokens == 3
    assert _one(sim)["body"]["messages"] == [{"role": "user", "content": "def add(a, b):"}]


async def test_anthropic_answer_in_another_protocol_names_anthropics_api(proxy: Proxy) -> None:
    # Before the shared provider-errors module, Anthropic borrowed the OpenAI adapter's helper
    # and reported "not OpenAI-compatible".
    class NotAnthropic(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(200)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", "5")
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotAnthropic)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        generation = pb.Generation(
            target=common_pb2.ModelTarget(
                name="claude",
                platform=common_pb2.PLATFORM_ANTHROPIC,
                endpoint=endpoint,
                identifier=ANTHROPIC.model,
            ),
            prompt="def add(a, b):",
        )
        error = await failure(proxy, generation, streamed=False)
    finally:
        server.shutdown()
        server.server_close()

    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "not Anthropic's Messages API" in details(error)
