"""One suite, several platforms: an Azure OpenAI model and a Bedrock model each serve a
feature through the router (the simulator speaks both wire protocols)."""

from __future__ import annotations

import pytest

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2
from aigw.router.v1 import router_service_pb2
from aigw_simulator import simulated_text
from tests.router_svc.conftest import SIMULATED_TOKENS, Stack, generations

CODE = router_service_pb2.CodeContext(
    file_name="app.py", content_above_cursor="def add(a, b):\n    ", content_below_cursor=""
)


async def _create(stack: Stack, name: str, family: str, target: common_pb2.ModelTarget) -> None:
    model = config_service_pb2.Model(name=name, family=family, target=target)
    await stack.config.CreateModel(config_service_pb2.CreateModelRequest(model=model), timeout=5)


async def _stream(
    stack: Stack, completion: router_service_pb2.Completion, scope: str
) -> list[router_service_pb2.StreamCompleteResponse]:
    call = stack.router.StreamComplete(
        router_service_pb2.StreamCompleteRequest(completion=completion),
        metadata=stack.metadata(scope),
        timeout=20,
    )
    return [chunk async for chunk in call]


@pytest.mark.usefixtures("aws_environment")
async def test_an_azure_model_and_a_bedrock_model_each_serve_a_feature(stack: Stack) -> None:
    base_url = stack.simulator.base_url
    # The simulator serves one model name; it is the Azure deployment and the Bedrock id.
    served = stack.simulator.state.config.model
    await _create(
        stack,
        "gpt-azure",
        "gpt",
        common_pb2.ModelTarget(
            platform=common_pb2.PLATFORM_AZURE_OPENAI,
            endpoint=base_url,
            identifier=served,
            azure=common_pb2.AzureOptions(api_version="2024-10-21"),
        ),
    )
    await _create(
        stack,
        "claude-bedrock",
        "claude_3",
        common_pb2.ModelTarget(
            platform=common_pb2.PLATFORM_BEDROCK,
            endpoint=base_url,  # a private (VPC) endpoint
            identifier=served,
            bedrock=common_pb2.BedrockOptions(region="us-east-1"),
        ),
    )
    await stack.assign("code_generations", "gpt-azure")
    await stack.assign("duo_chat", "claude-bedrock")

    generated = await _stream(
        stack,
        router_service_pb2.Completion(feature="code_generations", code=CODE),
        "generate_code",
    )
    chatted = await _stream(
        stack, router_service_pb2.Completion(feature="duo_chat", prompt="hi"), "duo_chat"
    )

    for chunks, platform in (
        (generated, common_pb2.PLATFORM_AZURE_OPENAI),
        (chatted, common_pb2.PLATFORM_BEDROCK),
    ):
        assert "".join(c.text for c in chunks) == simulated_text(SIMULATED_TOKENS)
        assert chunks[0].served_by.platform == platform
        assert chunks[-1].finish_reason == common_pb2.FINISH_REASON_STOP
        assert chunks[-1].usage.output_tokens == SIMULATED_TOKENS
    paths = [record["path"] for record in generations(stack.simulator)]
    assert paths == [
        f"/openai/deployments/{served}/chat/completions",
        f"/model/{served}/converse-stream",
    ]
