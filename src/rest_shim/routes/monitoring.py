"""GET /monitoring/healthz and /monitoring/ready: probes for load balancers, no authentication."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from aigw_common.errors import AigwError
from rest_shim.dependencies import AppSettings, Router

AUTH_BYPASS_WARNING = (
    "AUTHENTICATION IS DISABLED (AIGW_AUTH__BYPASS_EXTERNAL=true): anyone who can reach this "
    "gateway can use every feature"
)

router = APIRouter(prefix="/monitoring", tags=["monitoring"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: 200 while the process answers HTTP; checks nothing else."""
    return {}


@router.get("/ready")
async def ready(settings: AppSettings, client: Router) -> JSONResponse:
    """Readiness: 200 only when the router reports SERVING, else 503."""
    try:
        serving = await client.serving()
        problem = None if serving else "router is not serving"
    except AigwError as error:
        problem = f"router health check failed: {error.grpc_code.name}"
    body: dict[str, str] = {"status": "ready"} if problem is None else {"detail": problem}
    if settings.auth.bypass_external:
        body["warning"] = AUTH_BYPASS_WARNING
    return JSONResponse(body, status_code=200 if problem is None else 503)
