"""How each platform's model is configured against the simulator, for tests shared by all."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc

from aigw.common.v1 import common_pb2
from aigw.modelproxy.v1 import model_proxy_service_pb2 as pb
from aigw_simulator import BackgroundSimulator

BEDROCK_MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"


@dataclass(frozen=True)
class Platform:
    """One platform: its simulator model name, its target, and what its faults become."""

    id: str
    platform: common_pb2.Platform.ValueType
    model: str
    azure: common_pb2.AzureOptions | None = None
    # HTTP status -> (gRPC code, a fragment of the message).
    faults: dict[int, tuple[grpc.StatusCode, str]] = field(default_factory=dict)
    mid_stream_error: str = ""
    retry_status: int = 429

    def endpoint(self, sim: BackgroundSimulator) -> str:
        return (
            sim.endpoint if self.platform == common_pb2.PLATFORM_OPENAI_COMPATIBLE else sim.base_url
        )

    def target(self, sim: BackgroundSimulator, **overrides: object) -> common_pb2.ModelTarget:
        fields: dict[str, object] = {
            "name": f"{self.id}-model",
            "family": "claude_3",
            "platform": self.platform,
            "endpoint": self.endpoint(sim),
            "identifier": self.model,
        }
        if self.azure is not None:
            fields["azure"] = self.azure
        if self.platform == common_pb2.PLATFORM_BEDROCK:
            fields["bedrock"] = common_pb2.BedrockOptions(region="us-east-1")
        fields.update(overrides)
        return common_pb2.ModelTarget(**fields)  # type: ignore[arg-type]

    def chat(
        self, sim: BackgroundSimulator, text: str = "hello there", **overrides: object
    ) -> pb.Generation:
        return pb.Generation(
            target=self.target(sim, **overrides),
            chat=pb.ChatMessages(
                messages=[common_pb2.Message(role=common_pb2.ROLE_USER, content=text)]
            ),
        )


_UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
_REJECTED = grpc.StatusCode.FAILED_PRECONDITION
_INVALID = grpc.StatusCode.INVALID_ARGUMENT

VLLM = Platform(
    "vllm",
    common_pb2.PLATFORM_OPENAI_COMPATIBLE,
    "aigw-simulator",
    faults={
        429: (_UNAVAILABLE, "overloaded (HTTP 429: simulated failure)"),
        500: (_UNAVAILABLE, "the server failed (HTTP 500 with no detail)"),
        503: (_UNAVAILABLE, "the server failed (HTTP 503: simulated failure)"),
        400: (_INVALID, "refused the request (HTTP 400: simulated failure)"),
    },
    mid_stream_error="failed mid-stream: simulated failure after 2 tokens",
)
AZURE = Platform(
    "azure",
    common_pb2.PLATFORM_AZURE_OPENAI,
    "gpt-4o",
    azure=common_pb2.AzureOptions(api_version="2024-10-21"),
    faults={
        429: (_UNAVAILABLE, "have exceeded token rate limit"),
        500: (_UNAVAILABLE, "the server failed (HTTP 500: simulated failure)"),
        503: (_UNAVAILABLE, "the server failed (HTTP 503: simulated failure)"),
        400: (_INVALID, "refused the request (HTTP 400: simulated failure)"),
    },
    mid_stream_error="failed mid-stream: simulated failure after 2 tokens",
)
AZURE_V1 = Platform(
    "azure-v1",
    common_pb2.PLATFORM_AZURE_OPENAI,
    "gpt-4o",
    azure=common_pb2.AzureOptions(api=common_pb2.AZURE_API_V1),
    faults=AZURE.faults,
    mid_stream_error=AZURE.mid_stream_error,
)
ANTHROPIC = Platform(
    "anthropic",
    common_pb2.PLATFORM_ANTHROPIC,
    "claude-3-5-sonnet-20241022",
    faults={
        429: (_UNAVAILABLE, "rate_limit_error: simulated failure"),
        529: (_UNAVAILABLE, "overloaded_error: Overloaded"),
        500: (_UNAVAILABLE, "api_error: simulated failure"),
        400: (_REJECTED, "invalid_request_error: simulated failure"),
        401: (_REJECTED, "authentication_error: simulated failure); check the model's API key"),
    },
    mid_stream_error="failed mid-stream (overloaded_error: Overloaded (simulated failure",
    retry_status=529,
)
BEDROCK = Platform(
    "bedrock",
    common_pb2.PLATFORM_BEDROCK,
    BEDROCK_MODEL,
    faults={
        429: (_UNAVAILABLE, "(HTTP 429): ThrottlingException: Too many requests"),
        500: (_UNAVAILABLE, "(HTTP 500): InternalServerException: simulated failure"),
        503: (_UNAVAILABLE, "(HTTP 503): ServiceUnavailableException: simulated failure"),
        400: (_REJECTED, "(HTTP 400): ValidationException: simulated failure"),
        403: (_REJECTED, "AccessDeniedException: You don't have access to the model"),
    },
    mid_stream_error="Bedrock refused mid-stream: ThrottlingException: simulated failure after",
)
ALL = [VLLM, AZURE, AZURE_V1, ANTHROPIC, BEDROCK]
