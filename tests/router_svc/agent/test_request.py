"""A StreamAgentRequest is checked before any work; each refusal names its field."""

from __future__ import annotations

import pytest

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common.errors import InvalidArgument
from router_svc.agent.request import MAX_STEPS, check_agent_request

USER = common_pb2.ROLE_USER
ASSISTANT = common_pb2.ROLE_ASSISTANT


def request(*messages: router_service_pb2.AgentMessage) -> router_service_pb2.StreamAgentRequest:
    return router_service_pb2.StreamAgentRequest(messages=messages)


def test_attached_context_needs_its_scopes_once_each() -> None:
    files = [
        router_service_pb2.AdditionalContext(category="file", id="a.py"),
        router_service_pb2.AdditionalContext(category="issue"),
        router_service_pb2.AdditionalContext(category="file", id="b.py"),
    ]

    scopes = check_agent_request(
        request(router_service_pb2.AgentMessage(role=USER, content="x", additional_context=files))
    )

    assert scopes == ["include_file_context", "include_issue_context"]


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (request(), "messages"),
        (request(router_service_pb2.AgentMessage(role=common_pb2.ROLE_SYSTEM)), "messages[0].role"),
        (
            request(
                router_service_pb2.AgentMessage(role=USER, content="q"),
                router_service_pb2.AgentMessage(role=ASSISTANT, content="a"),
            ),
            "messages.role",
        ),
        (
            request(
                router_service_pb2.AgentMessage(
                    role=ASSISTANT, page=router_service_pb2.PageContext(type="issue")
                ),
                router_service_pb2.AgentMessage(role=USER),
            ),
            "messages[0].role",
        ),
        (
            request(
                router_service_pb2.AgentMessage(
                    role=USER, page=router_service_pb2.PageContext(type="wiki")
                )
            ),
            "messages[0].page.type",
        ),
        (
            request(
                router_service_pb2.AgentMessage(
                    role=USER,
                    additional_context=[router_service_pb2.AdditionalContext(category="secrets")],
                )
            ),
            "messages[0].additional_context.category",
        ),
        (request(router_service_pb2.AgentMessage(role=USER, content="x" * 400_001)), "messages"),
    ],
)
def test_malformed_requests_are_refused(
    bad: router_service_pb2.StreamAgentRequest, field: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_agent_request(bad)

    assert caught.value.field == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r.steps.extend([router_service_pb2.AgentStep()] * (MAX_STEPS + 1)), "steps"),
        (lambda r: r.unavailable_resources.extend(["x"] * 21), "unavailable_resources"),
        (lambda r: r.feature_flags.append("f" * 256), "feature_flags"),
        (lambda r: setattr(r, "gitlab_version", "1" * 65), "gitlab_version"),
    ],
)
def test_limits(change: object, field: str) -> None:
    bad = request(router_service_pb2.AgentMessage(role=USER, content="q"))
    change(bad)  # type: ignore[operator]

    with pytest.raises(InvalidArgument) as caught:
        check_agent_request(bad)

    assert caught.value.field == field
