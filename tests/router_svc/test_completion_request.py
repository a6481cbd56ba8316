from __future__ import annotations

import pytest

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common.errors import InvalidArgument
from router_svc.completion_request import check_completion


def _code(**fields: str) -> router_service_pb2.CodeContext:
    return router_service_pb2.CodeContext(file_name="a.py", **fields)


@pytest.mark.parametrize(
    ("completion", "field"),
    [
        (router_service_pb2.Completion(), "completion.feature"),
        (router_service_pb2.Completion(feature="nope", code=_code()), "completion.feature"),
        (router_service_pb2.Completion(feature="code_completions"), "completion.code"),
        (
            router_service_pb2.Completion(feature="code_completions", prompt="x"),
            "completion.code",
        ),
        (router_service_pb2.Completion(feature="duo_chat", code=_code()), "completion.chat"),
        (
            router_service_pb2.Completion(
                feature="code_completions",
                code=router_service_pb2.CodeContext(file_name="a" * 256),
            ),
            "completion.code.file_name",
        ),
        (
            router_service_pb2.Completion(
                feature="code_completions", code=_code(content_above_cursor="x" * 100_001)
            ),
            "completion.code.content_above_cursor",
        ),
        (
            router_service_pb2.Completion(
                feature="duo_chat", chat=router_service_pb2.Conversation()
            ),
            "completion.chat.messages",
        ),
        (
            router_service_pb2.Completion(
                feature="duo_chat",
                chat=router_service_pb2.Conversation(messages=[common_pb2.Message(content="hi")]),
            ),
            "completion.chat.messages.role",
        ),
        (
            router_service_pb2.Completion(
                feature="code_completions",
                code=_code(),
                parameters=common_pb2.GenerationParameters(max_tokens=0),
            ),
            "completion.parameters.max_tokens",
        ),
        (
            router_service_pb2.Completion(
                feature="code_completions",
                code=_code(),
                parameters=common_pb2.GenerationParameters(temperature=3),
            ),
            "completion.parameters.temperature",
        ),
    ],
)
def test_malformed_requests_name_the_field(
    completion: router_service_pb2.Completion, field: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_completion(completion)
    assert caught.value.field == field
    assert field.split(".")[1] in caught.value.message


def test_a_well_formed_request_yields_its_feature() -> None:
    feature = check_completion(
        router_service_pb2.Completion(feature="code_completions", code=_code())
    )
    assert feature is not None
    assert feature.scope == "complete_code"
