"""FastAPI dependencies: what build_app put on the app's state, typed."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from aigw_common.settings import Settings
from rest_shim.auth_client import AuthClient
from rest_shim.router_client import RouterClient


# `async def`: FastAPI runs plain `def` dependencies on a worker thread, two thread hops per
# request for what is an attribute read.
async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _router(request: Request) -> RouterClient:
    router: RouterClient = request.app.state.router
    return router


async def _auth(request: Request) -> AuthClient:
    auth: AuthClient = request.app.state.auth
    return auth


AppSettings = Annotated[Settings, Depends(_settings)]
Router = Annotated[RouterClient, Depends(_router)]
Auth = Annotated[AuthClient, Depends(_auth)]
