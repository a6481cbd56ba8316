"""gRPC interceptors: `CallLifecycle` on the server side with the plugs every server installs
(in this order), and the client side's outgoing context."""

from aigw_common.interceptors.lifecycle import CallLifecycle
from aigw_common.interceptors.outgoing_context import outgoing_context_interceptors
from aigw_common.interceptors.request_context import RequestContext
from aigw_common.interceptors.server_metrics import ServerMetrics
from aigw_common.interceptors.server_tracing import ServerTracing

__all__ = [
    "CallLifecycle",
    "RequestContext",
    "ServerMetrics",
    "ServerTracing",
    "outgoing_context_interceptors",
]
