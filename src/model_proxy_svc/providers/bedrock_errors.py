"""Bedrock failures as domain errors (shared reference providers.md §3.8-3.9).

botocore raises `ClientError` for HTTP errors (Error.Code = `ThrottlingException`, ...),
`EventStreamError` for an exception frame inside a 200 stream (Error.Code = the lowerCamel
member name, `throttlingException`), its own exceptions for connecting, credentials and region,
and raw urllib3 errors for a stream that breaks or stalls mid-read.
"""

from __future__ import annotations

from botocore import exceptions as botocore_errors
from urllib3 import exceptions as urllib3_errors

from aigw_common.errors import (
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from model_proxy_svc.providers.base import Upstream
from model_proxy_svc.providers.upstream_errors import clean, metadata_of
from model_proxy_svc.retries import RetryableUpstreamError, retry_after_s

# Codes a later attempt may not meet (boto3's own transient and throttling lists).
_RETRYABLE = {
    "ThrottlingException",
    "ModelNotReadyException",
    "ServiceUnavailableException",
    "InternalServerException",
}
_ADVICE = {
    "AccessDeniedException": "check that the AWS credentials may call "
    "bedrock:InvokeModelWithResponseStream and that model access is enabled in this region",
    "ResourceNotFoundException": "check the model id (identifier) and region",
    "ValidationException": "check the model id; newer models need an inference-profile id "
    "such as us.anthropic...",
    "UnrecognizedClientException": "check the AWS credentials",
    "InvalidSignatureException": "check the AWS secret key",
    "ExpiredTokenException": "the AWS session token has expired; refresh the credentials",
    "ServiceQuotaExceededException": "raise the Bedrock quota or lower the load",
}


def error_of(error: Exception, upstream: Upstream) -> UpstreamError:
    """The domain error for anything boto3 raised while talking to Bedrock."""
    subject = upstream.describe()
    if isinstance(error, botocore_errors.ClientError):
        return _client_error(error, upstream)
    if isinstance(
        error, (botocore_errors.ConnectTimeoutError, botocore_errors.EndpointConnectionError)
    ):
        return RetryableUpstreamError(
            f"{subject}: cannot connect to Bedrock ({clean(str(error), upstream)}); check the "
            "region, the endpoint and the network path to it",
            metadata=metadata_of(upstream),
        )
    if isinstance(error, botocore_errors.NoRegionError):
        return UpstreamRejected(
            f"{subject}: no AWS region; set the model's Bedrock region (--region) or "
            "AWS_DEFAULT_REGION for the model proxy",
            metadata=metadata_of(upstream),
        )
    if isinstance(error, botocore_errors.NoCredentialsError):
        return UpstreamRejected(
            f"{subject}: no AWS credentials found; give the model proxy keys "
            "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), a profile, or an instance/task role",
            metadata=metadata_of(upstream),
        )
    if isinstance(error, (botocore_errors.ReadTimeoutError, urllib3_errors.ReadTimeoutError)):
        return UpstreamTimeout(
            f"{subject}: Bedrock stopped answering (read timed out)",
            metadata=metadata_of(upstream),
        )
    if isinstance(error, (urllib3_errors.ProtocolError, botocore_errors.ResponseStreamingError)):
        return UpstreamUnavailable(
            f"{subject}: the connection to Bedrock broke mid-stream "
            f"({clean(str(error), upstream)})",
            metadata=metadata_of(upstream),
        )
    if isinstance(error, botocore_errors.ParamValidationError):
        return UpstreamRejected(
            f"{subject}: the request does not fit Bedrock's Converse API: "
            f"{clean(str(error), upstream)}",
            metadata=metadata_of(upstream),
        )
    return UpstreamUnavailable(
        f"{subject}: the call to Bedrock failed ({type(error).__name__}: "
        f"{clean(str(error), upstream)})",
        metadata=metadata_of(upstream),
    )


def _client_error(error: botocore_errors.ClientError, upstream: Upstream) -> UpstreamError:
    details = error.response.get("Error", {})
    code = str(details.get("Code") or "UnknownError")
    # Exception frames name the union member (throttlingException); HTTP errors the shape.
    code = code[:1].upper() + code[1:]
    said = clean(str(details.get("Message") or "no detail"), upstream)
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    in_stream = isinstance(error, botocore_errors.EventStreamError)
    where = "mid-stream" if in_stream else f"(HTTP {status})"
    message = f"{upstream.describe()}: Bedrock refused {where}: {code}: {said}"
    metadata = metadata_of(upstream, aws_error_code=code)
    if code in _RETRYABLE:
        headers = error.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        return RetryableUpstreamError(
            f"{message}; retry later", metadata=metadata, retry_after_s=retry_after_s(headers)
        )
    if code == "ModelTimeoutException":
        return UpstreamTimeout(message, metadata=metadata)
    if code in _ADVICE:
        return UpstreamRejected(f"{message}; {_ADVICE[code]}", metadata=metadata)
    if isinstance(status, int) and 400 <= status < 500 and status not in (408, 424, 429):
        return UpstreamRejected(message, metadata=metadata)
    return UpstreamUnavailable(message, metadata=metadata)
