"""The demo configuration `aigw up --demo` applies: the simulator as a Codestral-family model."""

from __future__ import annotations

import json
import shlex

import grpc

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2
from aigw_cli import admin
from aigw_common.settings import Settings

DEMO_MODEL = "demo-codestral"
DEMO_FEATURES = ("code_completions", "code_generations")
DEMO_SCOPES = ["complete_code", "generate_code"]


async def configure(settings: Settings, simulator_endpoint: str) -> None:
    """Define the demo model (once) and point the demo features at it."""
    model = config_service_pb2.Model(
        name=DEMO_MODEL,
        family="codestral",
        target=common_pb2.ModelTarget(
            name=DEMO_MODEL,
            family="codestral",
            platform=common_pb2.PLATFORM_OPENAI_COMPATIBLE,
            endpoint=simulator_endpoint,
            identifier="aigw-simulator",
        ),
    )
    try:
        await admin.create_model(settings, model, api_key="")
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise
    for feature in DEMO_FEATURES:
        await admin.set_feature(settings, feature, [DEMO_MODEL], disabled=False)


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
