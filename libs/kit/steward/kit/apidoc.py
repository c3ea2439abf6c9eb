"""The error responses a service really returns, written into its OpenAPI document.

FastAPI documents its own ``{"detail": [...]}`` 422 body and nothing else; the kit answers every
error with ``{"error": {"code", "message", "details", "request_id"}}`` (see :mod:`steward.kit.http`).
:func:`document_errors` replaces the 422 schema and adds, per operation:

* 401 and 403 when the operation verifies a bearer token (it lists the bearer scheme under ``security``);
* 404 when it names something: a path parameter, or any query parameter or body (a tenant, project,
  person, scorecard, matter ids, ... that is unknown or outside the caller's subtree);
* 409 on writes (conflicts, invalid transitions, and ``concurrent_update`` when a concurrent
  transaction won: retry);
* 422 whenever it takes parameters or a body (request validation and domain validation);
* 413 when it takes a body (the body size limit), 429 always (per-principal and, without a token,
  per-address rate limits), 503 always (a dependency unavailable, or the replica overloaded);
* 400 when it takes a body: a body that cannot be decoded at all (not UTF-8) is ``bad_request``; a
  malformed JSON body is 422 ``json_invalid``.

:func:`document_contract` adds what client generators need besides: ``servers`` (the chart's ingress
host and the development port), an explicit ``security`` on every operation (``[]`` on the few public
ones; bearer JWT, or OpenID Connect discovery where an issuer URL is configured), and unique component
names (FastAPI names two models of the same class name ``steward__<module>__Name``, which generators
turn into duplicate classes).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from steward.kit.settings import ServiceSettings

ERROR_SCHEMA = "ErrorResponse"
BEARER = "HTTPBearer"
OIDC = "OpenIDConnect"
DEFAULT_HOST = "steward.example.gov.cn"  # the chart's default ingress host (values.yaml ingress.host)
# `steward dev up` ports (tools/cli/steward/devtools/services.py)
DEV_PORTS = {"registry": 8101, "issues": 8102, "meetings": 8103, "scoring": 8104, "notify": 8105}
WRITES = {"post", "put", "patch", "delete"}

_DESCRIPTIONS = {
    "400": "The body cannot be decoded (not UTF-8: `bad_request`); malformed JSON is a 422",
    "401": "No, an invalid or an expired bearer token (`missing_token`, `invalid_token`, `token_expired`)",
    "403": "The caller's roles do not allow this (`forbidden`, `role_required`, ...)",
    "404": "Something the request names is not found, or is outside the caller's tenant subtree "
    "(`not_found`, `unknown_tenant`, ...)",
    "409": "Conflict with the current state (`conflict`, `invalid_transition`, `concurrent_update`: retry)",
    "413": "The request body is larger than the service accepts (`payload_too_large`)",
    "422": "The request is not valid (`validation_failed` with one entry per problem in `details`, ...)",
    "429": "Too many requests from this principal or address (`too_many_requests`): see `Retry-After`",
    "503": "A dependency is unavailable or the replica is overloaded (`unavailable`, `overloaded`): "
    "retry after `Retry-After`",
}


class ErrorDetail(BaseModel):
    """One problem; request validation fills ``loc``/``message``/``type``, domain errors may add keys."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int] | None = Field(default=None, description='Where: e.g. ["body", "name"]')
    message: str | None = None
    type: str | None = None


class ErrorBody(BaseModel):
    code: str = Field(description="Machine-readable error code", examples=["validation_failed"])
    message: str = Field(description="Human-readable explanation")
    details: list[ErrorDetail] = Field(description="Machine-readable problems; empty when there are none")
    request_id: str | None = Field(description="The X-Request-ID of the request")


class ErrorResponse(BaseModel):
    """Every 4xx/5xx body of every Steward service."""

    error: ErrorBody


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite ``schema`` (the app's OpenAPI document) in place with the real error responses."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    defs = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(defs.pop("$defs", {}))
    components[ERROR_SCHEMA] = defs
    ref = {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}}}

    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            params = operation.get("parameters", [])
            codes = set()
            if operation.get("security"):
                codes |= {"401", "403"}
            if "{" in path or params or "requestBody" in operation:
                codes.add("404")
            if method in WRITES:
                codes.add("409")
            if params or "requestBody" in operation or "422" in operation["responses"]:
                codes.add("422")
            if "requestBody" in operation:
                codes |= {"400", "413"}
            codes |= {"429", "503"}
            responses = operation["responses"]
            for code in sorted(codes):
                declared = responses.get(code, {}).get("description") if code != "422" else None
                responses[code] = {"description": declared or _DESCRIPTIONS[code], **ref}
            for code, response in responses.items():
                # an error a route declares itself (its own description) has the same body
                if code.startswith(("4", "5")) and "content" not in response:
                    response.update(ref)
    return schema


def _unique_component_names(schema: dict[str, Any]) -> None:
    """``steward__registry__reports__schemas__MilestoneUpdate`` → ``ReportsMilestoneUpdate`` (its
    package and class name), with the ``title`` to match, and every ``$ref`` rewritten."""
    components = schema.get("components", {}).get("schemas", {})
    renames: dict[str, str] = {}
    for name in list(components):
        if "__" not in name:
            continue
        parts = name.split("__")
        package = next((p for p in reversed(parts[:-1]) if p not in ("schemas", "models", "api")), "")
        new = f"{package.title().replace('_', '')}{parts[-1]}"
        if new in components or new in renames.values():
            new = "".join(p.title().replace("_", "") for p in parts[1:])
        renames[name] = new
    if not renames:
        return
    for old, new in renames.items():
        body = components.pop(old)
        body["title"] = new
        components[new] = body
    text = json.dumps(schema)
    for old, new in renames.items():
        text = text.replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
    schema.clear()
    schema.update(json.loads(text))


def oidc_discovery_url(settings: ServiceSettings | None) -> str | None:
    """The issuer's OpenID Connect discovery document, when the issuer is a URL (a real IdP)."""
    issuer = settings.jwt_issuer if settings is not None else ""
    if not issuer.startswith(("https://", "http://")):
        return None
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def document_contract(
    schema: dict[str, Any], *, service: str | None = None, settings: ServiceSettings | None = None
) -> dict[str, Any]:
    """Rewrite ``schema`` in place: servers, security on every operation, unique component names."""
    _unique_component_names(schema)
    servers: list[dict[str, Any]] = [
        {
            "url": "https://{host}",
            "description": "A deployment: the chart's ingress host (values.yaml `ingress.host`)",
            "variables": {"host": {"default": DEFAULT_HOST}},
        }
    ]
    if service in DEV_PORTS:
        servers.append(
            {"url": f"http://127.0.0.1:{DEV_PORTS[service]}", "description": "`make run` (development)"}
        )
    schema["servers"] = servers
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    requirement: list[dict[str, list[str]]] = [{BEARER: []}] if BEARER in schemes else []
    discovery = oidc_discovery_url(settings)
    if discovery and requirement:
        schemes[OIDC] = {
            "type": "openIdConnect",
            "openIdConnectUrl": discovery,
            "description": "Tokens of the configured identity provider (sent as a bearer token)",
        }
        requirement.append({OIDC: []})
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            security = operation.get("security") or []
            if any(BEARER in r for r in security):
                # the bearer token, or (same header) a token of the configured OIDC provider
                security = [*security, *(r for r in requirement if r not in security)]
            # explicit on every operation: `[]` says "public" (no token), not "forgotten"
            operation["security"] = security
    return schema


def install(app: FastAPI, *, service: str | None = None, settings: ServiceSettings | None = None) -> None:
    """Make ``app.openapi()`` document the real error responses, servers and security."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_contract(
                document_errors(generate()), service=service, settings=settings
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
