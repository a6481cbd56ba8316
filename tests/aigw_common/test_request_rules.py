"""One rule for endpoints and sampling parameters: config_svc (a stored model), router_svc (a
model described in the request) and model_proxy_svc (a generation) accept and refuse the same
values. Before the rules were shared, the proxy accepted credentials in an endpoint and an
endpoint of any length, and the router accepted credentials too."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2
from aigw.modelproxy.v1 import model_proxy_service_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common.errors import InvalidArgument
from aigw_common.request_rules import MAX_ENDPOINT_CHARS
from config_svc.validation import check_create_model
from model_proxy_svc.validation import check_generation
from router_svc.completion_request import check_completion
from router_svc.custom_models import custom_model


def _stored(endpoint: str) -> str:
    check_create_model(
        config_service_pb2.CreateModelRequest(
            model=config_service_pb2.Model(
                name="m",
                family="codestral",
                target=common_pb2.ModelTarget(
                    platform=common_pb2.PLATFORM_OPENAI_COMPATIBLE,
                    endpoint=endpoint,
                    identifier="codestral",
                ),
            )
        )
    )
    return "model.target.endpoint"


def _described(endpoint: str) -> str:
    custom_model(
        router_service_pb2.CustomModel(
            family="codestral",
            platform=common_pb2.PLATFORM_OPENAI_COMPATIBLE,
            endpoint=endpoint,
            identifier="codestral",
        ),
        enabled=True,
    )
    return "completion.custom_model.endpoint"


def _generated(endpoint: str) -> str:
    check_generation(
        model_proxy_service_pb2.Generation(
            target=common_pb2.ModelTarget(
                platform=common_pb2.PLATFORM_OPENAI_COMPATIBLE,
                endpoint=endpoint,
                identifier="codestral",
            ),
            prompt="def f(",
        ),
        "generation",
    )
    return "generation.target.endpoint"


SERVICES: dict[str, Callable[[str], str]] = {
    "config_svc": _stored,
    "router_svc": _described,
    "model_proxy_svc": _generated,
}
ACCEPTED = [
    "http://vllm:8000/v1",
    "https://models.example.com/v1",
    "http://10.0.0.7/v1",
    "http://" + "h" * (MAX_ENDPOINT_CHARS - len("http://")),
]
REFUSED = {
    "empty": "",
    "credentials": "http://user:pw@host/v1",
    "user only": "http://user@host/v1",
    "too long": "http://host/" + "v" * MAX_ENDPOINT_CHARS,
    "100 kB": "http://host/" + "v" * 100_000,
    "ftp": "ftp://host/v1",
    "relative": "/v1",
    "no host": "http:///v1",
    "bad port": "http://host:99999/v1",
    "space": "http://host/v 1",
    "newline": "http://host/v1\n",
}


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("endpoint", ACCEPTED)
def test_every_service_accepts_the_same_endpoints(service: str, endpoint: str) -> None:
    SERVICES[service](endpoint)


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("endpoint", REFUSED.values(), ids=REFUSED.keys())
def test_every_service_refuses_the_same_endpoints(service: str, endpoint: str) -> None:
    check = SERVICES[service]
    with pytest.raises(InvalidArgument) as caught:
        check(endpoint)
    field = check("http://vllm:8000/v1")  # the path the service names its endpoint by
    assert caught.value.field == field
    assert caught.value.message.startswith(field)
    assert "pw" not in caught.value.message


_PARAMETERS = {
    "max_tokens": common_pb2.GenerationParameters(max_tokens=0),
    "temperature": common_pb2.GenerationParameters(temperature=2.5),
    "top_p": common_pb2.GenerationParameters(top_p=0.0),
    "stop_sequences": common_pb2.GenerationParameters(stop_sequences=["x"] * 17),
    "stop_sequences[0]": common_pb2.GenerationParameters(stop_sequences=[""]),
    "stop_token_ids[0]": common_pb2.GenerationParameters(stop_token_ids=[-1]),
}


@pytest.mark.parametrize("name", _PARAMETERS)
def test_router_and_proxy_refuse_the_same_parameters(name: str) -> None:
    parameters = _PARAMETERS[name]
    completion = router_service_pb2.Completion(
        feature="code_generations", prompt="write f", parameters=parameters
    )
    generation = model_proxy_service_pb2.Generation(
        target=common_pb2.ModelTarget(
            platform=common_pb2.PLATFORM_OPENAI_COMPATIBLE,
            endpoint="http://vllm:8000/v1",
            identifier="codestral",
        ),
        prompt="def f(",
        parameters=parameters,
    )

    with pytest.raises(InvalidArgument) as at_router:
        check_completion(completion)
    with pytest.raises(InvalidArgument) as at_proxy:
        check_generation(generation, "generation")

    assert at_router.value.field == f"completion.parameters.{name}"
    assert at_proxy.value.field == f"generation.parameters.{name}"
