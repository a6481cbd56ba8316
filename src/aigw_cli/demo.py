"""The demo configuration `aigw up --demo` applies: the simulator as a Codestral-family model
for code and as a general chat model for every chat feature, so that every route the README
shows answers."""

from __future__ import annotations

import json
import shlex

import grpc

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2
from aigw_cli import admin
from aigw_common.catalog import FEATURES, FeatureKind
from aigw_common.settings import Settings

DEMO_MODEL = "demo-codestral"
DEMO_CHAT_MODEL = "demo-chat"
_CODE_KINDS = (FeatureKind.CODE_COMPLETION, FeatureKind.CODE_GENERATION)
# Each demo model with its family and the features it serves.
DEMO_MODELS = {
    DEMO_MODEL: ("codestral", [f.name for f in FEATURES.values() if f.kind in _CODE_KINDS]),
    DEMO_CHAT_MODEL: ("general", [f.name for f in FEATURES.values() if f.kind is FeatureKind.CHAT]),
}
DEMO_SCOPES = sorted({feature.scope for feature in FEATURES.values()})


async def configure(settings: Settings, simulator_endpoint: str) -> None:
    """Define the demo models (once) and point every feature nobody has set yet at them.

    A feature the user already set (to another model, or disabled) keeps its setting: starting
    the demo again must not undo the user's own configuration."""
    already_set = {setting.feature for setting in await admin.list_features(settings)}
    for name, (family, features) in DEMO_MODELS.items():
        await _define(settings, name, family, simulator_endpoint)
        for feature in features:
            if feature not in already_set:
                await admin.set_feature(settings, feature, [name], disabled=False)


async def _define(settings: Settings, name: str, family: str, endpoint: str) -> None:
    model = config_service_pb2.Model(
        name=name,
        family=family,
        target=common_pb2.ModelTarget(
            name=name,
            family=family,
            platform=common_pb2.PLATFORM_OPENAI_COMPATIBLE,
            endpoint=endpoint,
            identifier="aigw-simulator",
        ),
    )
    try:
        await admin.create_model(settings, model, api_key="")
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise


def curl_command(settings: Settings, token: str) -> str:
    """A ready-to-paste curl line for a streamed code completion through the REST shim."""
    body = {
        "current_file": {
            "file_name": "fib.py",
            "content_above_cursor": "def fibonacci(n):\n    ",
            "content_below_cursor": "",
        },
        "stream": True,
    }
    url = f"http://{settings.fastapi.api_host}:{settings.fastapi.api_port}/v2/code/completions"
    return " ".join(
        [
            "curl -N",
            "-H",
            shlex.quote(f"Authorization: Bearer {token}"),
            "-H",
            shlex.quote("X-Gitlab-Authentication-Type: oidc"),
            "-H",
            shlex.quote("Content-Type: application/json"),
            "-d",
            shlex.quote(json.dumps(body)),
            url,
        ]
    )
