"""gRPC interceptors, one concern each, listed in the order servers install them."""

from aigw_common.interceptors.error_mapping import ErrorMappingInterceptor
from aigw_common.interceptors.outgoing_context import outgoing_context_interceptors
from aigw_common.interceptors.request_context import RequestContextInterceptor

__all__ = ["ErrorMappingInterceptor", "RequestContextInterceptor", "outgoing_context_interceptors"]
