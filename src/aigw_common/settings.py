"""Typed settings for the whole suite, read once from `AIGW_*` environment variables.

Nesting uses `__`: `AIGW_AUTH__BYPASS_EXTERNAL=true` sets `settings.auth.bypass_external`.
Names follow GitLab's AI gateway where the meaning is the same. Every service's `main()` builds
one `Settings` and passes the parts it needs down; nothing else reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LoggingSettings(_Section):
    """`AIGW_LOGGING__*`: log level, format and destination."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format_json: bool = True
    to_file: Path | None = None
    # Expanded logging: the request and the answer's text on the router's access-log line.
    enable_request_logging: bool = False
    # Honour a caller's `x-gitlab-enabled-instance-verbose-ai-logs: true` (expanded logging
    # for that request only).
    allow_verbose_header: bool = False


DEFAULT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024


class GrpcServiceSettings(_Section):
    """Where one gRPC service listens (`bind`, `port`) and where its clients reach it (`host`,
    or a whole gRPC `target`)."""

    bind: str = "127.0.0.1"
    host: str = "127.0.0.1"
    port: int = Field(ge=0, le=65535)
    # The gRPC target clients dial instead of host:port, to balance over replicas: e.g.
    # `dns:///aigw-router:50051` (a headless Service: every pod's address) or
    # `ipv4:10.0.0.1:50051,10.0.0.2:50051`. Clients always balance round_robin.
    target: str | None = None
    reflection: bool = False
    # In-flight calls get this long to finish once stopping begins; then they are cancelled.
    grace_period_s: float = Field(default=10.0, ge=0)
    # Between reporting NOT_SERVING and refusing new calls: the time load balancers and
    # Kubernetes endpoints need to notice (5 s is typical there; 0 for one machine).
    drain_delay_s: float = Field(default=0.0, ge=0, le=300)
    # Connections are closed (GOAWAY) after this age, ±10 %, so clients re-resolve and spread
    # over replicas added since; streams then get the grace below, which must exceed the
    # longest stream (a model call's timeout).
    max_connection_age_s: float = Field(default=300.0, gt=0)
    max_connection_age_grace_s: float = Field(default=120.0, ge=0)
    # A second, plaintext port serving only the health service, for probes that cannot speak
    # TLS (Kubernetes' native gRPC probes); unset: none.
    health_port: int | None = Field(default=None, ge=0, le=65535)
    max_message_bytes: int = Field(default=DEFAULT_MAX_MESSAGE_BYTES, gt=0)
    max_concurrent_rpcs: int | None = Field(default=None, gt=0)

    @property
    def address(self) -> str:
        """The target clients dial: `target` if set, else `host:port`."""
        return self.target or f"{self.host}:{self.port}"

    @property
    def listen_address(self) -> str:
        """The `bind:port` address the server listens on."""
        return f"{self.bind}:{self.port}"


# One class per service, so each has its own default port: pydantic-settings builds a nested
# section from the environment alone, and a default only on the instance would be lost as soon
# as any one `AIGW_<SVC>__*` variable is set.
class RouterSettings(GrpcServiceSettings):
    """`AIGW_ROUTER__*`: router_svc's listener, how it fits prompts to model servers, and its
    outlier ejection: a model that fails `eject_after_failures` calls in a row (before their
    first token) is tried after the feature's other models for `eject_for_s`, then one call
    probes it (0 turns ejection off)."""

    port: int = Field(default=50051, ge=0, le=65535)
    # Answer tokens of a chat request when neither the caller nor the template sets any
    # (lowered to what the served context leaves).
    chat_max_tokens: int = Field(default=1024, gt=0)
    # How long a served context learnt from a model server (vLLM's max_model_len) is trusted,
    # and how long asking for it may take.
    served_context_ttl_s: float = Field(default=300.0, gt=0)
    served_context_timeout_s: float = Field(default=2.0, gt=0)
    eject_after_failures: int = Field(default=5, ge=0)
    eject_for_s: float = Field(default=30.0, gt=0)


class AuthServiceSettings(GrpcServiceSettings):
    """`AIGW_AUTH_SVC__*`: auth_svc's listener."""

    port: int = Field(default=50052, ge=0, le=65535)


class ConfigServiceSettings(GrpcServiceSettings):
    """`AIGW_CONFIG_SVC__*`: config_svc's listener."""

    port: int = Field(default=50053, ge=0, le=65535)


class AuthSettings(_Section):
    """`AIGW_AUTH__*`: how tokens are issued and verified."""

    bypass_external: bool = False
    issuer: str = "aigw"
    audience: str = "gitlab-ai-gateway"
    algorithm: Literal["RS256", "ES256", "EdDSA"] = "RS256"
    token_ttl_s: int = Field(default=3600, gt=0)
    max_token_ttl_s: int = Field(default=86400, gt=0)
    clock_skew_s: int = Field(default=30, ge=0, le=300)
    max_token_bytes: int = Field(default=8192, gt=0)
    jwks_refresh_s: float = Field(default=300.0, gt=0)
    # Verified tokens remembered until their `exp` (verified_tokens.py); 0 verifies every time.
    verified_token_cache_size: int = Field(default=10_000, ge=0, le=1_000_000)
    # The credential that may call IssueToken. Unset: generated into <data_dir>/admin.token.
    admin_credential: SecretStr | None = None
    # Trusted GitLab issuers (AIGW_GITLAB_URL, AIGW_CUSTOMER_PORTAL_URL): OIDC discovery.
    oidc_timeout_s: float = Field(default=10.0, gt=0)
    oidc_refresh_s: float = Field(default=3600.0, gt=0)

    @model_validator(mode="after")
    def _default_ttl_within_maximum(self) -> AuthSettings:
        # A rotated-out key verifies for max_token_ttl_s; no token may outlive that.
        if self.token_ttl_s > self.max_token_ttl_s:
            raise ValueError(
                "AIGW_AUTH__TOKEN_TTL_S must not exceed AIGW_AUTH__MAX_TOKEN_TTL_S "
                f"({self.token_ttl_s} > {self.max_token_ttl_s})"
            )
        return self

    @property
    def key_retention_s(self) -> int:
        """How long a replaced signing key keeps verifying: until the last token it can have
        signed has expired, clock skew included."""
        return self.max_token_ttl_s + self.clock_skew_s


class TlsSettings(_Section):
    """`AIGW_TLS__*`: TLS on every gRPC port, and the trust store for outbound HTTPS."""

    # Every gRPC server listens with `cert_file`/`key_file`; every aigw client then dials with
    # TLS, trusting `ca_file` (unset: the system's trust store).
    enabled: bool = False
    cert_file: Path | None = None
    key_file: Path | None = None
    ca_file: Path | None = None
    # CA bundle for outbound HTTPS (OIDC discovery, model servers); unset: the system's.
    outbound_ca_bundle: Path | None = None

    @model_validator(mode="after")
    def _files_when_enabled(self) -> TlsSettings:
        if self.enabled and (self.cert_file is None or self.key_file is None):
            raise ValueError(
                "AIGW_TLS__ENABLED=true needs AIGW_TLS__CERT_FILE and AIGW_TLS__KEY_FILE"
            )
        return self


class FastApiSettings(_Section):
    """`AIGW_FASTAPI__*`: the REST shim's HTTP listener (GitLab's names)."""

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=5052, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=8082, ge=0, le=65535)
    docs_url: str | None = None
    openapi_url: str | None = None
    # The deadline of every completion (streamed or not) the shim asks the router for; each
    # model's own timeout ends it sooner (aigw_common/deadlines.py).
    request_timeout_s: float = Field(default=600.0, gt=0)
    # How long streams still running at shutdown may go on before they are cut (whole
    # seconds: uvicorn's unit).
    grace_period_s: int = Field(default=10, ge=0)
    # Abuse limits, decided before a request reaches a route (rest_shim/http_server.py,
    # rest_shim/admission.py): time to send a request head (at most max_header_bytes of URL
    # and headers, else 431), then its body; idle time between
    # requests on a kept-alive connection; open connections, of which the last
    # `health_headroom` serve /monitoring/* only; and a request body's size (413 beyond).
    header_timeout_s: float = Field(default=10.0, gt=0)
    max_header_bytes: int = Field(default=256 * 1024, gt=0)
    body_timeout_s: float = Field(default=30.0, gt=0)
    keep_alive_timeout_s: int = Field(default=5, gt=0)
    max_connections: int = Field(default=4096, gt=0)
    health_headroom: int = Field(default=32, ge=0)
    max_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0)


class MetricsSettings(_Section):
    """`AIGW_METRICS__*`: each gRPC service's Prometheus `/metrics` listener (the REST shim's is
    `AIGW_FASTAPI__METRICS_PORT`). A port of 0 picks a free one."""

    enabled: bool = True
    host: str = "127.0.0.1"
    router_port: int = Field(default=8083, ge=0, le=65535)
    auth_svc_port: int = Field(default=8084, ge=0, le=65535)
    config_svc_port: int = Field(default=8085, ge=0, le=65535)
    model_proxy_port: int = Field(default=8086, ge=0, le=65535)

    def port_of(self, service: str) -> int:
        """The metrics port of `service` (router, auth_svc, config_svc, model_proxy)."""
        port: int = getattr(self, f"{service}_port")
        return port


class TracingSettings(_Section):
    """`AIGW_TRACING__*`: OpenTelemetry traces. Spans leave the machine only when an OTLP
    endpoint is set."""

    # OTLP over HTTP, the full traces URL, e.g. http://otel-collector:4318/v1/traces.
    otlp_endpoint: str | None = None
    export_timeout_s: float = Field(default=10.0, gt=0)


class CustomModelsSettings(_Section):
    """`AIGW_CUSTOM_MODELS__*`: caller-supplied model coordinates (GitLab's names)."""

    enabled: bool = False
    disable_streaming: bool = False


class ModelProxySettings(GrpcServiceSettings):
    """`AIGW_MODEL_PROXY__*`: the model proxy's listener and its outbound HTTP pools."""

    port: int = Field(default=50054, ge=0, le=65535)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    default_timeout_s: float = Field(default=60.0, gt=0)
    max_connections_per_endpoint: int = Field(default=256, gt=0)
    # Defaults for a model's limits.first_token_timeout / idle_timeout / max_retries.
    first_token_timeout_s: float = Field(default=30.0, gt=0)
    idle_timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    # Backoff between attempts: exponential from the initial value with full jitter, capped.
    retry_initial_backoff_s: float = Field(default=0.2, gt=0)
    retry_max_backoff_s: float = Field(default=4.0, gt=0)
    # The most time one request may spend waiting between attempts, Retry-After included.
    retry_max_wait_s: float = Field(default=10.0, ge=0)
    # Worker threads for boto3's blocking Bedrock calls: one per stream in flight.
    bedrock_max_workers: int = Field(default=64, gt=0, le=1024)
    # Default `api-version` for Azure OpenAI deployment URLs.
    azure_api_version: str = Field(default="2024-10-21", min_length=1)


class DatabaseSettings(_Section):
    """`AIGW_DATABASE__*`: where config_svc keeps the configuration (and auth_svc its signing
    keys, with `AIGW_AUTH_SVC_KEYS__BACKEND=database`).

    Unset `url`: SQLite in the data directory (one machine). A `postgresql://` URL: PostgreSQL,
    shared by every replica; changes reach the other replicas by NOTIFY within milliseconds, and
    by polling every `poll_interval_s` should a notification be lost.
    """

    url: SecretStr | None = None
    connect_timeout_s: float = Field(default=5.0, gt=0)
    # Every statement, and every wait for a row lock, is bounded.
    statement_timeout_s: float = Field(default=10.0, gt=0)
    poll_interval_s: float = Field(default=2.0, gt=0)
    # Apply pending schema migrations when config_svc starts (`aigw db migrate` does it alone).
    migrate_on_start: bool = True

    @field_validator("url", mode="after")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        scheme = value.get_secret_value().partition("://")[0]
        if scheme not in ("postgresql", "postgres"):
            # Never quote the URL: it may hold a password.
            raise ValueError("AIGW_DATABASE__URL must be a postgresql:// URL")
        return value

    @property
    def is_postgres(self) -> bool:
        return self.url is not None


class RedisSettings(_Section):
    """`AIGW_REDIS__*`: the Redis every model-proxy replica shares for its limits.

    Unset `url`: each process counts for itself (one machine). Set: a model's
    `max_concurrent_requests` holds across every replica; each request holds an expiring lease,
    renewed while it runs, so a replica that dies gives its slots back within `lease_ttl_s`.
    """

    url: SecretStr | None = None
    # Prefix of every key aigw writes (several deployments may share one Redis).
    key_prefix: str = Field(default="aigw", min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    socket_timeout_s: float = Field(default=0.5, gt=0)
    lease_ttl_s: float = Field(default=10.0, ge=1, le=600)
    # When Redis cannot be reached: "open" admits by this process's own count (and counts the
    # failure in aigw_limit_store_failures_total), "closed" refuses with 503.
    failure_mode: Literal["open", "closed"] = "open"


class RateLimitSettings(_Section):
    """`AIGW_RATE_LIMITS__*`: requests and tokens per minute, per caller (a token's subject) and
    per feature (all callers together), checked by the router. 0: no limit. Counted in Redis
    (every router) when AIGW_REDIS__URL is set, else per router process; Redis unreachable
    follows AIGW_REDIS__FAILURE_MODE. A refused call gets RESOURCE_EXHAUSTED (HTTP 429) with
    the wait until the window frees up (Retry-After)."""

    caller_requests_per_minute: int = Field(default=0, ge=0)
    caller_tokens_per_minute: int = Field(default=0, ge=0)
    feature_requests_per_minute: int = Field(default=0, ge=0)
    feature_tokens_per_minute: int = Field(default=0, ge=0)


class Settings(BaseSettings):
    """All of aigw's settings. Build once per process with `Settings()` and pass it down."""

    model_config = SettingsConfigDict(
        env_prefix="AIGW_",
        env_nested_delimiter="__",
        extra="ignore",
        frozen=True,
    )

    environment: Literal["development", "production"] = "production"
    # Cluster mode (N replicas): every secret comes from the environment or a mounted Secret, and
    # a service refuses to start rather than generate its own (a per-pod credential or sealing
    # key would differ between replicas).
    cluster: bool = False
    data_dir: Path = Path.home() / ".local" / "share" / "aigw"
    logging: LoggingSettings = LoggingSettings()
    auth: AuthSettings = AuthSettings()
    fastapi: FastApiSettings = FastApiSettings()
    custom_models: CustomModelsSettings = CustomModelsSettings()
    router: RouterSettings = RouterSettings()
    auth_svc: AuthServiceSettings = AuthServiceSettings()
    config_svc: ConfigServiceSettings = ConfigServiceSettings()
    metrics: MetricsSettings = MetricsSettings()
    tracing: TracingSettings = TracingSettings()
    model_proxy: ModelProxySettings = ModelProxySettings()
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    rate_limits: RateLimitSettings = RateLimitSettings()
    # Where model API keys are sealed: a Fernet key file shared by config_svc and model_proxy_svc.
    credentials_key_file: Path | None = None
    # A private (VPC) Bedrock Runtime endpoint for models that name none; GitLab's variable name.
    aws_bedrock_runtime_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "AWS_BEDROCK_RUNTIME_ENDPOINT", "aws_bedrock_runtime_endpoint"
        ),
    )
    # The same key given directly (a Fernet key); takes precedence over the file.
    credentials_key: SecretStr | None = None
    tls: TlsSettings = TlsSettings()
    # A GitLab instance (and its customer portal) whose OIDC-signed tokens are accepted
    # (GitLab's names). Their keys are found by OIDC discovery; nothing else is ever called.
    gitlab_url: str | None = None
    customer_portal_url: str | None = None
    # The audience (`aud`) tokens from those issuers must carry (GitLab's name).
    cloud_connector_service_name: str = "gitlab-ai-gateway"

    @field_validator("gitlab_url", "customer_portal_url", mode="after")
    @classmethod
    def _issuer_url(cls, value: str | None) -> str | None:
        # Empty means unset (GitLab's troubleshooting docs set the variables to "").
        if not value or not value.strip():
            return None
        url = value.strip().rstrip("/")
        scheme, _, rest = url.partition("://")
        if scheme not in ("https", "http") or not rest or any(c in rest for c in "?#@ "):
            raise ValueError(
                f"{url!r} is not an http(s) base URL such as https://gitlab.example.com"
            )
        return url

    @model_validator(mode="after")
    def _refuse_bypass_in_production(self) -> Settings:
        if self.auth.bypass_external and self.environment == "production":
            raise ValueError(
                "AIGW_AUTH__BYPASS_EXTERNAL=true turns authentication off and is refused with "
                "AIGW_ENVIRONMENT=production; set AIGW_ENVIRONMENT=development for a trial setup"
            )
        return self

    @property
    def config_db_path(self) -> Path:
        """config_svc's SQLite database (when AIGW_DATABASE__URL is unset)."""
        return self.data_dir / "config.sqlite3"

    @property
    def sealing_key_path(self) -> Path:
        """The Fernet key file that seals model API keys."""
        return self.credentials_key_file or self.data_dir / "credentials.key"
