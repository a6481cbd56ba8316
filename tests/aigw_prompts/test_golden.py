"""Golden prompts: for every feature and every family, a fixed input renders to a fixed prompt.

The expected prompts live in golden/<feature>.yaml. After an intended template change, rewrite
them with `UPDATE_GOLDEN=1 .venv/bin/pytest tests/aigw_prompts/test_golden.py` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import json_format

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common import catalog
from aigw_common.catalog import FeatureKind
from aigw_prompts import prepare

GOLDEN = Path(__file__).parent / "golden"
_UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

CODE = router_service_pb2.CodeContext(
    file_name="stats.py",
    content_above_cursor=(
        "import csv\n\n\n"
        "def total(path):\n"
        "    # read the CSV at path and return the sum of its second column\n"
        "    "
    ),
    content_below_cursor="\n\n\nif __name__ == '__main__':\n    print(total('data.csv'))\n",
)
CHAT = router_service_pb2.Conversation(
    messages=[
        common_pb2.Message(role=common_pb2.ROLE_SYSTEM, content="The project uses Python 3.12."),
        common_pb2.Message(role=common_pb2.ROLE_USER, content="What does this do?\n\nx = [1, 2]"),
        common_pb2.Message(role=common_pb2.ROLE_ASSISTANT, content="It makes a list."),
        common_pb2.Message(role=common_pb2.ROLE_USER, content="And x * 2?"),
    ]
)


def _input(feature: catalog.Feature) -> router_service_pb2.Completion:
    if feature.kind is FeatureKind.CHAT:
        return router_service_pb2.Completion(feature=feature.name, chat=CHAT)
    return router_service_pb2.Completion(feature=feature.name, code=CODE)


def _rendered(feature: catalog.Feature, family: str) -> dict[str, Any]:
    prepared = prepare(feature, _input(feature), family)
    generation = prepared.generation
    out: dict[str, Any] = {"template": prepared.template_id}
    if generation.WhichOneof("input") == "prompt":
        out["prompt"] = generation.prompt
    else:
        out["messages"] = [
            {"role": common_pb2.Role.Name(m.role), "content": m.content}
            for m in generation.chat.messages
        ]
    out["parameters"] = json_format.MessageToDict(generation.parameters)
    out["timeout_s"] = prepared.timeout_s
    out["postprocess"] = [step.value for step in prepared.postprocessing.steps]
    return out


@pytest.mark.parametrize("feature_name", sorted(catalog.FEATURES))
def test_every_family_renders_the_golden_prompt(feature_name: str) -> None:
    feature = catalog.FEATURES[feature_name]
    actual = {family: _rendered(feature, family) for family in sorted(catalog.FAMILIES)}
    path = GOLDEN / f"{feature_name}.yaml"
    if _UPDATE:
        path.write_text(
            yaml.safe_dump(actual, allow_unicode=True, sort_keys=False, width=100),
            encoding="utf-8",
        )
    expected = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert set(expected) == set(catalog.FAMILIES)
    for family in sorted(catalog.FAMILIES):
        assert actual[family] == expected[family], f"{feature_name} for {family}"
