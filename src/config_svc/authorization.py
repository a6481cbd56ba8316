"""Who may call ConfigService: the scope each method needs (ServiceAuthGuard enforces it).

Changes and the audit trail need `aigw_admin` (the `aigw` command). Reads and WatchConfig need
`aigw_service` (aigw's own services, e.g. every router), `aigw_config_read` or `aigw_admin`.
A method not listed as a read is a change: a new RPC is closed until it is placed here.
"""

from __future__ import annotations

from aigw_common import scopes

_SERVICE_PREFIX = "/aigw.config.v1.ConfigService/"
_READ_METHODS = frozenset({"ListModels", "ListFeatureSettings", "GetConfig", "WatchConfig"})
_READERS = frozenset({scopes.SERVICE, scopes.CONFIG_READ, scopes.ADMIN})
_ADMINISTRATORS = frozenset({scopes.ADMIN})


def required_scopes(method: str) -> frozenset[str]:
    """The scopes of which a caller of `method` (a full gRPC method path) needs one."""
    if method.removeprefix(_SERVICE_PREFIX) in _READ_METHODS:
        return _READERS
    return _ADMINISTRATORS
