from __future__ import annotations

import re

import pytest

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common import catalog
from router_svc.prompts import render

CODE = router_service_pb2.CodeContext(
    file_name="app.py",
    content_above_cursor="def add(a, b):\n    ",
    content_below_cursor="\n\nprint(add(1, 2))\n",
)


def _completion(**fields: object) -> router_service_pb2.Completion:
    return router_service_pb2.Completion(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("family", "expected_prompt", "a_stop"),
    [
        (
            "codestral",
            "[SUFFIX]\n\nprint(add(1, 2))\n[PREFIX]def add(a, b):\n    ",
            "[PREFIX]",
        ),
        (
            "codegemma",
            "<|fim_prefix|>def add(a, b):\n    <|fim_suffix|>\n\nprint(add(1, 2))\n<|fim_middle|>",
            "<|file_separator|>",
        ),
        (
            "codellama",
            "<PRE> def add(a, b):\n     <SUF>\n\nprint(add(1, 2))\n <MID>",
            "<EOT>",
        ),
        (
            "deepseekcoder",
            "<\uff5cfim\u2581begin\uff5c>def add(a, b):\n    <\uff5cfim\u2581hole\uff5c>"
            "\n\nprint(add(1, 2))\n<\uff5cfim\u2581end\uff5c>",
            None,
        ),
    ],
)
def test_completion_uses_the_familys_fill_in_the_middle_layout(
    family: str, expected_prompt: str, a_stop: str | None
) -> None:
    generation = render(
        catalog.FEATURES["code_completions"],
        _completion(feature="code_completions", code=CODE),
        family,
    )
    assert generation.WhichOneof("input") == "prompt"
    assert generation.prompt == expected_prompt
    if a_stop is not None:
        assert a_stop in generation.parameters.stop_sequences


def test_completion_for_a_family_without_fim_tokens_is_a_chat_with_instructions() -> None:
    generation = render(
        catalog.FEATURES["code_completions"],
        _completion(feature="code_completions", code=CODE),
        "gpt",
    )
    roles = [m.role for m in generation.chat.messages]
    assert roles == [common_pb2.ROLE_SYSTEM, common_pb2.ROLE_USER]
    assert "python" in generation.chat.messages[0].content
    assert "<prefix>def add(a, b):\n    </prefix><cursor/>" in generation.chat.messages[1].content


def test_mistral_family_chat_merges_the_system_turn_into_the_first_user_turn() -> None:
    chat = router_service_pb2.Conversation(
        messages=[
            common_pb2.Message(role=common_pb2.ROLE_SYSTEM, content="Be brief."),
            common_pb2.Message(role=common_pb2.ROLE_USER, content="What is a monad?"),
        ]
    )
    generation = render(
        catalog.FEATURES["duo_chat"], _completion(feature="duo_chat", chat=chat), "mixtral"
    )
    assert [(m.role, m.content) for m in generation.chat.messages] == [
        (common_pb2.ROLE_USER, "Be brief.\n\nWhat is a monad?")
    ]
    unchanged = render(
        catalog.FEATURES["duo_chat"], _completion(feature="duo_chat", chat=chat), "claude_3"
    )
    assert len(unchanged.chat.messages) == 2


def test_long_context_is_trimmed_on_line_boundaries_keeping_text_near_the_cursor() -> None:
    above = "".join(f"line {i}\n" for i in range(5000)) + "    "
    below = "".join(f"after {i}\n" for i in range(5000))
    code = router_service_pb2.CodeContext(
        file_name="a.py", content_above_cursor=above, content_below_cursor=below
    )
    prompt = render(
        catalog.FEATURES["code_completions"],
        _completion(feature="code_completions", code=code),
        "codegemma",
    ).prompt
    prefix = prompt.split("<|fim_suffix|>")[0].removeprefix("<|fim_prefix|>")
    suffix = prompt.split("<|fim_suffix|>")[1].removesuffix("<|fim_middle|>")
    assert prefix.endswith("line 4999\n    ")
    assert prefix.startswith("line ")  # starts at a whole line
    assert len(prefix) < len(above)
    assert suffix.startswith("after 0\n")
    assert re.fullmatch(r"after \d+", suffix.split("\n")[-1])  # ends at a whole line
    assert len(suffix) < len(below)


def test_caller_parameters_override_the_defaults() -> None:
    overrides = common_pb2.GenerationParameters(max_tokens=7, temperature=0.0, stop_sequences=["X"])
    generation = render(
        catalog.FEATURES["code_generations"],
        _completion(feature="code_generations", prompt="write a parser", parameters=overrides),
        "codestral",
    )
    assert generation.parameters.max_tokens == 7
    assert generation.parameters.HasField("temperature")
    assert generation.parameters.temperature == 0.0
    assert list(generation.parameters.stop_sequences) == ["X"]
    assert "write a parser" in generation.chat.messages[0].content
