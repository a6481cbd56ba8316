"""Fixtures: a config service running in-process on a free port, called through a real channel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from aigw_common.settings import Settings
from tests.config_svc.support import RunningService, running_service

if TYPE_CHECKING:
    from aigw.config.v1.config_service_pb2_grpc import ConfigServiceAsyncStub


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[RunningService]:
    async with running_service(settings) as running:
        yield running


@pytest.fixture
def stub(service: RunningService) -> ConfigServiceAsyncStub:
    return service.stub
