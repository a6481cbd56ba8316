"""Which scopes each ConfigService method admits (ServiceAuthGuard enforces them)."""

from __future__ import annotations

from aigw.config.v1 import config_service_pb2
from aigw_common import scopes
from config_svc.authorization import required_scopes

_SERVICE = config_service_pb2.DESCRIPTOR.services_by_name["ConfigService"]
_READS = {"ListModels", "ListFeatureSettings", "GetConfig", "WatchConfig"}


def _path(method: str) -> str:
    return f"/{_SERVICE.full_name}/{method}"


def test_reads_admit_services_readers_and_administrators_everything_else_administrators() -> None:
    for method in _SERVICE.methods:
        expected = (
            {scopes.SERVICE, scopes.CONFIG_READ, scopes.ADMIN}
            if method.name in _READS
            else {scopes.ADMIN}
        )
        assert required_scopes(_path(method.name)) == expected, method.name
    # The audit trail is not a read for services: it says who administers aigw.
    assert required_scopes(_path("ListAuditEvents")) == {scopes.ADMIN}


def test_a_method_not_listed_as_a_read_is_closed_to_all_but_administrators() -> None:
    assert required_scopes(_path("SomeFutureRpc")) == {scopes.ADMIN}
    assert required_scopes("/other.v1.OtherService/ListModels") == {scopes.ADMIN}
