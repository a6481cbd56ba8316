"""Models described in the request, with AIGW_CUSTOM_MODELS__ENABLED=true, through the real
router, model_proxy_svc and the simulator; and AIGW_CUSTOM_MODELS__DISABLE_STREAMING."""

from __future__ import annotations

import grpc
import pytest

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common import errors
from aigw_common.grpc_errors import from_rpc_error
from aigw_common.settings import CustomModelsSettings, Settings
from aigw_simulator import SimulatorConfig, simulated_text
from tests.router_svc.conftest import SIMULATED_TOKENS, Stack, generations

API_KEY = "sk-request-scoped-0123456789"
CODE = router_service_pb2.CodeContext(file_name="a.py", content_above_cursor="def f(")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"custom_models": CustomModelsSettings(enabled=True)})


def _completion(stack: Stack, **custom: object) -> router_service_pb2.Completion:
    fields: dict[str, object] = {
        "family": "codestral",
        "platform": common_pb2.PLATFORM_OPENAI_COMPATIBLE,
        "endpoint": stack.simulator.endpoint,
        "identifier": "aigw-simulator",
        "api_key": API_KEY,
    }
    fields.update(custom)
    return router_service_pb2.Completion(
        feature="code_completions",
        code=CODE,
        custom_model=router_service_pb2.CustomModel(**fields),  # type: ignore[arg-type]
    )


async def test_the_request_key_reaches_the_model_server_for_this_request_only(
    stack: Stack,
) -> None:
    stack.simulator.state.config = SimulatorConfig(tokens=SIMULATED_TOKENS, api_key=API_KEY)

    chunks = [
        chunk
        async for chunk in stack.router.StreamComplete(
            router_service_pb2.StreamCompleteRequest(completion=_completion(stack)),
            metadata=stack.metadata("complete_code"),
            timeout=10,
        )
    ]

    assert "".join(c.text for c in chunks) == simulated_text(SIMULATED_TOKENS)
    assert chunks[0].served_by.model == "aigw-simulator"
    [record] = generations(stack.simulator)
    assert record["status"] == 200
    # The family's fill-in-the-middle layout, as for a configured codestral model.
    assert record["body"]["prompt"] == "[SUFFIX][PREFIX]def f("


async def test_a_wrong_request_key_is_the_model_servers_refusal_without_the_key(
    stack: Stack,
) -> None:
    stack.simulator.state.config = SimulatorConfig(tokens=SIMULATED_TOKENS, api_key="sk-other")

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.router.Complete(
            router_service_pb2.CompleteRequest(completion=_completion(stack)),
            metadata=stack.metadata("complete_code"),
            timeout=10,
        )

    assert isinstance(from_rpc_error(caught.value), errors.UpstreamRejected)
    assert API_KEY not in (caught.value.details() or "")


@pytest.mark.parametrize(
    ("custom", "field"),
    [
        ({"family": "gpt-neo"}, "completion.custom_model.family"),
        ({"endpoint": "ftp://models"}, "completion.custom_model.endpoint"),
        ({"endpoint": ""}, "completion.custom_model.endpoint"),
        ({"identifier": " "}, "completion.custom_model.identifier"),
        ({"platform": common_pb2.PLATFORM_UNSPECIFIED}, "completion.custom_model.platform"),
    ],
)
async def test_a_malformed_model_description_names_the_field(
    stack: Stack, custom: dict[str, object], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.router.Complete(
            router_service_pb2.CompleteRequest(completion=_completion(stack, **custom)),
            metadata=stack.metadata("complete_code"),
            timeout=10,
        )

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert from_rpc_error(caught.value).field == field


async def test_the_features_scope_is_still_required(stack: Stack) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.router.Complete(
            router_service_pb2.CompleteRequest(completion=_completion(stack)),
            metadata=stack.metadata("duo_chat"),
            timeout=10,
        )

    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert generations(stack.simulator) == []
