"""TLS from settings: gRPC server and channel credentials, and the trust store for outbound HTTPS.

With AIGW_TLS__ENABLED every aigw gRPC server listens with the configured certificate and every
aigw client dials with TLS, verifying the server against AIGW_TLS__CA_FILE (or the system's
trust store). Outbound HTTPS (OIDC discovery, model servers) trusts
AIGW_TLS__OUTBOUND_CA_BUNDLE when set, else the system's trust store.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import grpc

from aigw_common.errors import FailedPrecondition
from aigw_common.settings import TlsSettings


def server_credentials(tls: TlsSettings | None) -> grpc.ServerCredentials | None:
    """Credentials for a gRPC server's port, or None to listen in plain text."""
    if tls is None or not tls.enabled:
        return None
    if tls.cert_file is None or tls.key_file is None:  # TlsSettings refuses this already
        raise FailedPrecondition("AIGW_TLS__ENABLED=true needs a certificate and a key file")
    key = _read(tls.key_file, "AIGW_TLS__KEY_FILE")
    cert = _read(tls.cert_file, "AIGW_TLS__CERT_FILE")
    return grpc.ssl_server_credentials([(key, cert)])


def channel_credentials(tls: TlsSettings | None) -> grpc.ChannelCredentials | None:
    """Credentials for a channel to another aigw service, or None for plain text."""
    if tls is None or not tls.enabled:
        return None
    root = _read(tls.ca_file, "AIGW_TLS__CA_FILE") if tls.ca_file is not None else None
    return grpc.ssl_channel_credentials(root_certificates=root)


def outbound_verify(tls: TlsSettings | None) -> ssl.SSLContext | bool:
    """httpx's `verify` for outbound HTTPS: the configured CA bundle, else the default store."""
    if tls is None or tls.outbound_ca_bundle is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(tls.outbound_ca_bundle))
    except (OSError, ssl.SSLError) as error:
        raise FailedPrecondition(
            f"AIGW_TLS__OUTBOUND_CA_BUNDLE={tls.outbound_ca_bundle} cannot be loaded as a PEM CA "
            f"bundle ({type(error).__name__})"
        ) from None


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise FailedPrecondition(
            f"{setting}={path} cannot be read ({error.strerror or type(error).__name__})"
        ) from None
