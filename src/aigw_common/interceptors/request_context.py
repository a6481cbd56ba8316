"""Server side: take the correlation id from metadata (or make one), bind it for the call."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog

from aigw_common.interceptors.lifecycle import Call, Observer
from aigw_common.request_context import REQUEST_ID_KEY, accept_request_id, request_id_var

if TYPE_CHECKING:
    from aigw_common.grpc_types import Context


class RequestContext(Observer):
    """Binds `x-request-id` (echoed in trailing metadata) into the call's context and logs."""

    def begin(self, call: Call, request: Any, context: Context) -> None:
        request_id = accept_request_id(call.metadata.get(REQUEST_ID_KEY))
        request_id_var.set(request_id)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(correlation_id=request_id)
        context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
