"""Azure OpenAI (shared reference providers.md §2): the OpenAI protocol at Azure's URLs.

Per model, either the deployment layout `{endpoint}/openai/deployments/{deployment}/...` with
`api-version`, or the GA v1 layout `{endpoint}/openai/v1/...` with the deployment in the body's
`model`. The secret goes in `api-key`, or as an Entra ID bearer token. Streams open with a
chunk whose `choices` is empty (prompt filter results) and may carry filter-only chunks with no
`delta`: the OpenAI stream reader skips both and keeps the usage chunk.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from aigw_common.errors import FailedPrecondition, UpstreamError, UpstreamRejected
from model_proxy_svc.clients import request_id_header
from model_proxy_svc.providers.base import AzureTarget, GenerationRequest, ServedModel, Upstream
from model_proxy_svc.providers.openai_compatible import OpenAICompatibleProvider, request_body
from model_proxy_svc.providers.openai_errors import error_detail
from model_proxy_svc.providers.upstream_errors import clean, metadata_of


def _options(upstream: Upstream) -> AzureTarget:
    return upstream.azure or AzureTarget(api_version="2024-10-21")


class AzureOpenAIProvider(OpenAICompatibleProvider):
    """Azure OpenAI deployments, through the pooled httpx clients."""

    def _url(self, upstream: Upstream, path: str) -> str:
        base = upstream.endpoint.rstrip("/")
        options = _options(upstream)
        if options.v1_api:
            return f"{base}/openai/v1{path}"
        deployment = quote(upstream.identifier, safe="")
        query = urlencode({"api-version": options.api_version})
        return f"{base}/openai/deployments/{deployment}{path}?{query}"

    def _headers(self, upstream: Upstream) -> dict[str, str]:
        headers = request_id_header()
        if upstream.api_key and _options(upstream).entra_bearer:
            headers["Authorization"] = f"Bearer {upstream.api_key}"
        elif upstream.api_key:
            headers["api-key"] = upstream.api_key
        return headers

    def _body(self, request: GenerationRequest, *, stream: bool) -> tuple[str, dict[str, Any]]:
        upstream = request.upstream
        # The deployment layout names the deployment in the URL; v1 in the body.
        model = upstream.identifier if _options(upstream).v1_api else None
        return request_body(request, stream=stream, model=model, vllm_extras=False)

    def _status_error(
        self, response: httpx.Response, body: bytes, upstream: Upstream, path: str
    ) -> UpstreamError:
        status = response.status_code
        if status not in (401, 403, 404):
            return super()._status_error(response, body, upstream, path)
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        detail = error_detail(payload) or ""
        inner = payload.get("error") if isinstance(payload, dict) else None
        code = str(inner.get("code")) if isinstance(inner, dict) else ""
        said = f" (HTTP {status}: {clean(detail, upstream)})" if detail else f" (HTTP {status})"
        subject = upstream.describe()
        metadata = metadata_of(upstream, http_status=str(status))
        if status == 404 and code == "DeploymentNotFound":
            return UpstreamRejected(
                f"{subject}: the resource has no deployment {upstream.identifier!r}{said}; "
                "the identifier must be the deployment name",
                metadata=metadata,
            )
        if status == 404:
            return UpstreamRejected(
                f"{subject}: Azure has no such resource path{said}; the endpoint must be the "
                "resource URL (https://NAME.openai.azure.com) and the api-version one it knows",
                metadata=metadata,
            )
        kind = "Entra ID token" if _options(upstream).entra_bearer else "API key"
        return UpstreamRejected(
            f"{subject}: Azure refused the credentials{said}; check the model's {kind}",
            metadata=metadata,
        )

    async def list_models(self, upstream: Upstream) -> list[ServedModel]:
        raise FailedPrecondition(
            "Azure OpenAI lists deployments in its control plane, not the data plane the proxy "
            "talks to: run `az cognitiveservices account deployment list` and use a "
            "deployment name as the identifier",
            metadata={"platform": "PLATFORM_AZURE_OPENAI"},
        )
