"""The router narrows the caller's deadline to the model's own timeout, and the model proxy
honours what gRPC carries instead of recomputing its own. A prompt template's timeout above
the proxy's default used to be cut to that default by the proxy."""

from __future__ import annotations

import pytest

from aigw.router.v1 import router_service_pb2
from aigw_common.settings import ModelProxySettings, Settings
from aigw_simulator import SimulatorConfig, simulated_text
from tests.router_svc.conftest import Stack

COMPLETION = router_service_pb2.Completion(
    feature="code_completions",
    code=router_service_pb2.CodeContext(file_name="a.py", content_above_cursor="def f("),
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A default shorter than the model's first token: only a template's timeout lets it finish.
    proxy = ModelProxySettings(port=0, grace_period_s=0.5, default_timeout_s=0.3)
    return settings.model_copy(update={"model_proxy": proxy})


async def test_a_prompt_templates_timeout_above_the_proxy_default_is_honoured(
    stack: Stack,
) -> None:
    # Code completion templates ask for 60 s (timeout_s); the model sets no limits.timeout.
    stack.simulator.state.config = SimulatorConfig(tokens=3, first_token_delay_s=0.8)
    await stack.add_model("codestral", stack.simulator.endpoint)
    await stack.assign("code_completions", "codestral")

    response = await stack.router.Complete(
        router_service_pb2.CompleteRequest(completion=COMPLETION),
        metadata=stack.metadata("complete_code"),
        timeout=10,
    )

    assert response.text == simulated_text(3)
