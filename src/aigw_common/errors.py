"""The domain exception tree shared by every aigw service.

    AigwError                      anything aigw reports to a caller
    ├── InvalidArgument            the request is malformed (names the field)
    ├── Unauthenticated            no valid credential
    ├── PermissionDenied           valid credential, not allowed
    ├── NotFound                   a named thing does not exist
    ├── AlreadyExists              a named thing exists already
    ├── FailedPrecondition         the system is not in a state to do it
    │   └── FeatureUnavailable     the feature is disabled or has no model
    ├── Aborted                    a concurrent change won; re-read and retry
    ├── ResourceExhausted          a limit was reached
    ├── Cancelled                  the caller went away
    └── UpstreamError              a model server or another aigw service failed
        ├── UpstreamUnavailable    unreachable, overloaded, 5xx
        ├── UpstreamTimeout        a deadline passed
        └── UpstreamRejected       the model server refused the request (4xx)
            └── UpstreamInvalidRequest  ... because of the request itself (400/404/413/422)

Each class names its gRPC code and ErrorInfo reason; grpc_errors.py maps them to and from gRPC
status, and the REST shim's error table of each API family (GitLab's, OpenAI's) maps them to
HTTP. Messages are for people: they say what is wrong and never contain a secret.
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc


class AigwError(Exception):
    """Base of every error aigw reports; unexpected exceptions become INTERNAL without detail."""

    grpc_code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    reason: str = "INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        metadata: Mapping[str, str] | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.metadata = dict(metadata or {})
        if reason is not None:
            self.reason = reason

    def caller_retry_after_s(self) -> int | None:
        """How long the caller should wait before trying again, when the error says so (its
        `retry_after_s` metadata): HTTP Retry-After, gRPC RetryInfo."""
        value = self.metadata.get("retry_after_s", "")
        return int(value) if value.isdigit() else None

    def http_headers(self) -> dict[str, str]:
        """Headers an HTTP answer for this error carries."""
        after = self.caller_retry_after_s()
        return {"Retry-After": str(after)} if after is not None else {}


class InvalidArgument(AigwError):
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT"


class Unauthenticated(AigwError):
    grpc_code = grpc.StatusCode.UNAUTHENTICATED
    reason = "UNAUTHENTICATED"


class PermissionDenied(AigwError):
    grpc_code = grpc.StatusCode.PERMISSION_DENIED
    reason = "PERMISSION_DENIED"


class NotFound(AigwError):
    grpc_code = grpc.StatusCode.NOT_FOUND
    reason = "NOT_FOUND"


class AlreadyExists(AigwError):
    grpc_code = grpc.StatusCode.ALREADY_EXISTS
    reason = "ALREADY_EXISTS"


class FailedPrecondition(AigwError):
    grpc_code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "FAILED_PRECONDITION"


class FeatureUnavailable(FailedPrecondition):
    # Its own reason: REST callers get 503 for it, not the 400 of other failed preconditions.
    reason = "FEATURE_UNAVAILABLE"


class Aborted(AigwError):
    grpc_code = grpc.StatusCode.ABORTED
    reason = "ABORTED"


class ResourceExhausted(AigwError):
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "RESOURCE_EXHAUSTED"


class Cancelled(AigwError):
    grpc_code = grpc.StatusCode.CANCELLED
    reason = "CANCELLED"


class UpstreamError(AigwError):
    grpc_code = grpc.StatusCode.UNAVAILABLE
    reason = "UPSTREAM_ERROR"


class UpstreamUnavailable(UpstreamError):
    reason = "UPSTREAM_UNAVAILABLE"


class UpstreamTimeout(UpstreamError):
    grpc_code = grpc.StatusCode.DEADLINE_EXCEEDED
    reason = "UPSTREAM_TIMEOUT"


class UpstreamRejected(UpstreamError):
    grpc_code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "UPSTREAM_REJECTED"


class UpstreamInvalidRequest(UpstreamRejected):
    """The model server refused the request itself (too many stops, too long for its context,
    an unknown model name): sending it again cannot help, so callers get a 4xx, never a
    retryable status. `metadata["http_status"]` is the server's status."""

    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "UPSTREAM_INVALID_REQUEST"
