"""The checks behind `aigw doctor`: the result type, settings, services and auth.

A check that cannot run because an earlier one failed says so and fails too: an operator fixes
the first failure and runs the doctor again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Literal

import grpc
import httpx
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from aigw.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from aigw_cli import admin
from aigw_cli.supervisor import grpc_serving, http_ok
from aigw_common import scopes
from aigw_common.admin_credential import load_admin_credential
from aigw_common.errors import AigwError
from aigw_common.oidc import OidcError, OidcKeyFetch
from aigw_common.settings import Settings
from aigw_common.tls import outbound_verify

Status = Literal["pass", "warn", "fail", "skip"]

# Settings whose values are never shown: their names carry one of these words (paths excepted).
_SECRET_WORDS = ("KEY", "SECRET", "TOKEN", "CREDENTIAL", "PASSWORD")
_EXTRA_VARIABLES = ("AWS_BEDROCK_RUNTIME_ENDPOINT",)


@dataclass(frozen=True)
class Result:
    """One check's outcome: `fix` is the one line that tells the operator what to do."""

    section: str
    name: str
    status: Status
    detail: str = ""
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def masked_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The aigw variables that are set, with secret values replaced."""
    shown: dict[str, str] = {}
    for name in sorted(environ):
        if not (name.startswith("AIGW_") or name in _EXTRA_VARIABLES):
            continue
        secret = any(word in name for word in _SECRET_WORDS) and not name.endswith("_FILE")
        shown[name] = "(set, hidden)" if secret else environ[name]
    return shown


def invalid_settings(error: ValueError, environ: Mapping[str, str]) -> Result:
    # pydantic's message quotes the input; name the fields and problems only.
    if isinstance(error, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or 'settings'}: {e['msg']}"
            for e in error.errors()
        )
    else:
        problems = "invalid"
    return Result(
        "settings",
        "settings load",
        "fail",
        problems,
        "correct the AIGW_* variables named above (set: "
        f"{', '.join(masked_environment(environ)) or 'none'})",
    )


def settings_checks(settings: Settings, environ: Mapping[str, str]) -> list[Result]:
    """Section 1: what is in effect, and contradictions the validators let through."""
    shown = masked_environment(environ)
    results = [
        Result(
            "settings",
            "in effect",
            "pass",
            ", ".join(f"{name}={value}" for name, value in shown.items())
            or "no AIGW_* variable set: defaults everywhere",
        )
    ]
    problems: list[Result] = []
    if settings.auth.bypass_external:
        problems.append(
            Result(
                "settings",
                "authentication",
                "warn",
                "AIGW_AUTH__BYPASS_EXTERNAL=true: callers are not authenticated",
                "unset AIGW_AUTH__BYPASS_EXTERNAL before real users connect",
            )
        )
    if settings.logging.enable_request_logging and settings.environment == "production":
        problems.append(
            Result(
                "settings",
                "expanded logging",
                "warn",
                "prompts and answers are written to the logs in production",
                "unset AIGW_LOGGING__ENABLE_REQUEST_LOGGING once the investigation is over",
            )
        )
    files = {
        "AIGW_TLS__CERT_FILE": settings.tls.cert_file if settings.tls.enabled else None,
        "AIGW_TLS__KEY_FILE": settings.tls.key_file if settings.tls.enabled else None,
        "AIGW_TLS__CA_FILE": settings.tls.ca_file,
        "AIGW_TLS__OUTBOUND_CA_BUNDLE": settings.tls.outbound_ca_bundle,
        "AIGW_CREDENTIALS_KEY_FILE": settings.credentials_key_file,
    }
    for variable, path in files.items():
        if path is not None and not path.is_file():
            problems.append(
                Result(
                    "settings",
                    variable,
                    "fail",
                    f"{path} does not exist",
                    f"point {variable} at an existing file",
                )
            )
    problems += _port_clashes(settings)
    return results + (problems or [Result("settings", "contradictions", "pass", "none found")])


def _port_clashes(settings: Settings) -> list[Result]:
    listeners = {
        "AIGW_ROUTER__PORT": settings.router.port,
        "AIGW_AUTH_SVC__PORT": settings.auth_svc.port,
        "AIGW_CONFIG_SVC__PORT": settings.config_svc.port,
        "AIGW_MODEL_PROXY__PORT": settings.model_proxy.port,
        "AIGW_FASTAPI__API_PORT": settings.fastapi.api_port,
        "AIGW_FASTAPI__METRICS_PORT": settings.fastapi.metrics_port,
    }
    if settings.metrics.enabled:
        for key in ("router", "auth_svc", "config_svc", "model_proxy"):
            listeners[f"AIGW_METRICS__{key.upper()}_PORT"] = settings.metrics.port_of(key)
    seen: dict[int, str] = {}
    clashes: list[Result] = []
    for variable, port in listeners.items():
        if port == 0:  # a free port is picked at start
            continue
        if port in seen:
            clashes.append(
                Result(
                    "settings",
                    "ports",
                    "fail",
                    f"{seen[port]} and {variable} are both {port}",
                    f"give {variable} a port of its own",
                )
            )
        seen.setdefault(port, variable)
    return clashes


async def service_checks(settings: Settings) -> list[Result]:
    """Section 2: every service's health."""
    results: list[Result] = []
    log_dir = settings.data_dir / "logs"
    for name, address in (
        ("auth_svc", settings.auth_svc.address),
        ("config_svc", settings.config_svc.address),
        ("model_proxy_svc", settings.model_proxy.address),
        ("router_svc", settings.router.address),
    ):
        serving = await grpc_serving(address, settings.tls)
        results.append(
            Result(
                "services",
                f"{name} gRPC health",
                "pass" if serving else "fail",
                address if serving else f"{address} is not SERVING (down, hung or still starting)",
                f"start the suite (`aigw up`) or read {log_dir / (name + '.log')}",
            )
        )
    base = f"http://{settings.fastapi.api_host}:{settings.fastapi.api_port}"
    for path in ("/monitoring/healthz", "/monitoring/ready"):
        ok = await http_ok(base + path)
        results.append(
            Result(
                "services",
                f"rest_shim {path}",
                "pass" if ok else "fail",
                base + path if ok else f"{base + path} did not answer 200",
                f"start the suite (`aigw up`) or read {log_dir / 'rest_shim.log'}",
            )
        )
    return results


async def ejection_checks(settings: Settings) -> list[Result]:
    """The models the router currently tries last after consecutive failures (its
    `model_ejected` gauge)."""
    if not settings.metrics.enabled:
        return [Result("models", "outlier ejection", "skip", "AIGW_METRICS__ENABLED=false")]
    url = f"http://{settings.metrics.host}:{settings.metrics.router_port}/metrics"
    try:
        async with httpx.AsyncClient(timeout=2.0) as client:
            text = (await client.get(url)).text
    except httpx.HTTPError as error:
        return [Result("models", "outlier ejection", "skip", f"{url}: {error}")]
    ejected = sorted(
        sample.labels["model"]
        for family in text_string_to_metric_families(text)
        if family.name == "model_ejected"
        for sample in family.samples
        if sample.value
    )
    if not ejected:
        return [Result("models", "outlier ejection", "pass", "no model ejected")]
    return [
        Result(
            "models",
            "outlier ejection",
            "warn",
            f"tried last after consecutive failures: {', '.join(ejected)}",
            "see the router's 'model ejected' log lines and each model's check below",
        )
    ]


def admin_credential_check(settings: Settings) -> Result | None:
    """A failed check when the CLI has no admin credential (every later call needs it)."""
    try:
        load_admin_credential(settings)
    except AigwError as error:
        return Result(
            "auth",
            "admin credential",
            "fail",
            error.message,
            "run aigw where the suite keeps its state, or set AIGW_DATA_DIR to it",
        )
    return None


async def auth_checks(settings: Settings, timeout_s: float) -> list[Result]:
    """Section 3: issue a token with the admin credential and verify it; OIDC discovery."""
    results: list[Result] = []
    try:
        issued = await admin.issue_token(settings, "aigw-doctor", [scopes.SERVICE], 60)
        async with admin.channel(settings, settings.auth_svc.address) as channel:
            verified = await auth_service_pb2_grpc.AuthServiceStub(channel).VerifyToken(
                auth_service_pb2.VerifyTokenRequest(token=issued.token), timeout=timeout_s
            )
    except grpc.aio.AioRpcError as error:
        fix = (
            "give the CLI the admin credential auth_svc uses (AIGW_AUTH__ADMIN_CREDENTIAL or "
            f"{settings.data_dir / 'admin.token'})"
            if error.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
            else "make auth_svc healthy first (see services)"
        )
        results.append(Result("auth", "token round trip", "fail", rpc_error(error), fix))
    else:
        results.append(
            Result(
                "auth",
                "token round trip",
                "pass",
                f"issued and verified (subject {verified.subject}, issuer {verified.issuer})",
            )
        )
    if settings.gitlab_url is None:
        results.append(Result("auth", "GitLab OIDC discovery", "skip", "AIGW_GITLAB_URL not set"))
        return results
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s),
        verify=outbound_verify(settings.tls),
        follow_redirects=False,
        trust_env=False,
    ) as client:
        try:
            jwks = await OidcKeyFetch(settings.gitlab_url, client)()
        except (OidcError, httpx.HTTPError) as error:
            results.append(
                Result(
                    "auth",
                    "GitLab OIDC discovery",
                    "fail",
                    f"{settings.gitlab_url}: {error or type(error).__name__}",
                    "set AIGW_GITLAB_URL to the instance's external URL, reachable from here "
                    "(AIGW_TLS__OUTBOUND_CA_BUNDLE for a private CA)",
                )
            )
        else:
            results.append(
                Result(
                    "auth",
                    "GitLab OIDC discovery",
                    "pass",
                    f"{settings.gitlab_url}: key set fetched ({len(jwks.jwks_json)} bytes)",
                )
            )
    return results


def rpc_error(error: grpc.aio.AioRpcError) -> str:
    return f"{error.code().name}: {error.details()}"
