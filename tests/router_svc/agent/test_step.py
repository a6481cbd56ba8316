"""The agent's model request per model."""

from __future__ import annotations

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2
from aigw.router.v1 import router_service_pb2
from router_svc.agent.step import agent_attempts
from router_svc.agent.tools import TOOLS

REQUEST = router_service_pb2.StreamAgentRequest(
    messages=[router_service_pb2.AgentMessage(role=common_pb2.ROLE_USER, content="hi")]
)


def _model(name: str, max_output_tokens: int) -> config_service_pb2.Model:
    return config_service_pb2.Model(
        name=name,
        family="mistral",
        target=common_pb2.ModelTarget(
            name=name,
            family="mistral",
            limits=common_pb2.ModelLimits(max_output_tokens=max_output_tokens),
        ),
    )


def test_a_models_output_limit_caps_the_prompts_max_tokens() -> None:
    capped, free = agent_attempts(REQUEST, [_model("small", 1024), _model("big", 0)], TOOLS)

    assert capped.prompt.generation.parameters.max_tokens == 1024
    assert free.prompt.generation.parameters.max_tokens == 4096
    assert capped.prompt.generation.target.name == "small"
