"""The one mapping between the domain exception tree and gRPC status with google.rpc details."""

from __future__ import annotations

import grpc
import structlog
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from aigw_common import errors

_log = structlog.get_logger(__name__)

# The class a caller sees for each code coming back from another aigw service. Codes that name
# a caller mistake keep their meaning; transport-level trouble becomes an upstream error.
_CLASS_BY_CODE: dict[grpc.StatusCode, type[errors.AigwError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: errors.InvalidArgument,
    grpc.StatusCode.UNAUTHENTICATED: errors.Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDenied,
    grpc.StatusCode.NOT_FOUND: errors.NotFound,
    grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExists,
    grpc.StatusCode.ABORTED: errors.Aborted,
    grpc.StatusCode.FAILED_PRECONDITION: errors.FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.ResourceExhausted,
    grpc.StatusCode.CANCELLED: errors.Cancelled,
    grpc.StatusCode.UNAVAILABLE: errors.UpstreamUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: errors.UpstreamTimeout,
}

# Subclasses that share a gRPC code with their parent but differ for REST callers.
_CLASS_BY_REASON: dict[str, type[errors.AigwError]] = {
    cls.reason: cls
    for cls in (
        errors.FeatureUnavailable,
        errors.UpstreamRejected,
        errors.UpstreamInvalidRequest,
        errors.UpstreamUnavailable,
    )
}


def to_status(error: errors.AigwError, domain: str) -> grpc.Status:
    """A gRPC status for `error` with an ErrorInfo and, for a bad field, a BadRequest."""
    error_info = error_details_pb2.ErrorInfo(
        reason=error.reason, domain=domain, metadata=error.metadata
    )
    details = [_pack(error_info)]
    if error.field is not None:
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=error.field, description=error.message
        )
        details.append(_pack(error_details_pb2.BadRequest(field_violations=[violation])))
    if (after_s := error.caller_retry_after_s()) is not None:
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromSeconds(after_s)
        details.append(_pack(retry))
    status = status_pb2.Status(
        code=error.grpc_code.value[0], message=error.message, details=details
    )
    return rpc_status.to_status(status)


def internal_status() -> grpc.Status:
    """The status for a bug: a generic message, never the exception's text."""
    return rpc_status.to_status(
        status_pb2.Status(code=code_pb2.INTERNAL, message="internal error; see the service log")
    )


# Codes gRPC itself reports for trouble on the way (no server, too slow, caller gone): their
# text says where, which operators and the CLI need.
_TRANSPORT_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)


def from_rpc_error(error: grpc.aio.AioRpcError) -> errors.AigwError:
    """The domain error another aigw service (or the transport) reported.

    Every aigw gRPC client converts here, once, where the call fails; nothing past a client
    sees grpc.aio.AioRpcError. Any other status without an ErrorInfo was made by gRPC itself (a
    metadata, message or concurrency limit, a library fault): it keeps its code's class, but
    its text, gRPC's internals, goes to the log only."""
    error_info, field = _details(error)
    cls = _CLASS_BY_REASON.get(error_info.reason) if error_info else None
    if cls is None and error_info is None and error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
        # gRPC's own refusal (a message over the size limit), not a service's rate limit: the
        # answer could not be carried, which is the upstream's failure, never the caller's 429.
        cls = errors.UpstreamError
    if cls is None:
        cls = _CLASS_BY_CODE.get(error.code(), errors.AigwError)
    message = error.details() or error.code().name
    if error_info is None and error.code() not in _TRANSPORT_CODES:
        _log.warning("gRPC refused a call", code=error.code().name, error=message)
        message = f"a service refused the call ({error.code().name}); see the service log"
    return cls(
        message,
        field=field,
        metadata=dict(error_info.metadata) if error_info else None,
        reason=error_info.reason if error_info else None,
    )


def _details(
    error: grpc.aio.AioRpcError,
) -> tuple[error_details_pb2.ErrorInfo | None, str | None]:
    try:
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
    except ValueError:
        # The rich status disagrees with the call's own code or message (something between
        # the services rewrote it): trust only the code.
        return None, None
    if status is None:
        return None, None
    error_info: error_details_pb2.ErrorInfo | None = None
    field: str | None = None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            error_info = error_details_pb2.ErrorInfo()
            detail.Unpack(error_info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            if bad_request.field_violations:
                field = bad_request.field_violations[0].field
    return error_info, field


def _pack(
    message: error_details_pb2.ErrorInfo
    | error_details_pb2.BadRequest
    | error_details_pb2.RetryInfo,
) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed
