"""Structured logging for every aigw process: JSON lines carrying the correlation id.

structlog renders both its own events and the standard library's (uvicorn, grpc), so every line
has the same shape: `timestamp`, `level`, `logger`, `service`, `message`, and `correlation_id`
when a request is being served. Values under secret-looking keys, and anything shaped like a JWT,
are masked before rendering.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from aigw_common.settings import LoggingSettings

MASK = "**********"
_SECRET_KEY = re.compile(r"token|secret|password|api[_-]?key|authorization|credential", re.I)
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")


def mask_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Hide values that are, or look like, credentials."""
    for key, value in event.items():
        if isinstance(value, str):
            if _SECRET_KEY.search(key) and value:
                event[key] = MASK
            elif "eyJ" in value:
                event[key] = _JWT.sub(MASK, value)
    return event


def configure_logging(settings: LoggingSettings, service: str) -> None:
    """Route structlog and stdlib logging through one renderer; call once in `main()`."""

    def add_service(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event.setdefault("service", service)
        return event

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_service,
        structlog.processors.format_exc_info,
        mask_secrets,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if settings.format_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    level = logging.getLevelNamesMapping()[settings.level]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
    handler: logging.Handler = (
        logging.FileHandler(settings.to_file)
        if settings.to_file
        else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.EventRenamer("message"),
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # uvicorn's own access log would duplicate ours and carries no correlation id.
    logging.getLogger("uvicorn.access").disabled = True
