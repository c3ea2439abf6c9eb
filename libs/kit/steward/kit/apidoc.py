"""The error responses a service really returns, written into its OpenAPI document.

FastAPI documents its own ``{"detail": [...]}`` 422 body and nothing else; the kit answers every
error with ``{"error": {"code", "message", "details", "request_id"}}`` (see :mod:`steward.kit.http`).
:func:`document_errors` replaces the 422 schema and adds, per operation:

* 401 and 403 when the operation verifies a bearer token (it lists the bearer scheme under ``security``);
* 404 when it names something in its path, or a tenant in its query or body (unknown, or outside the
  caller's subtree);
* 409 on writes (conflicts, invalid transitions, and ``concurrent_update`` when a concurrent
  transaction won: retry);
* 422 whenever it takes parameters or a body (request validation and domain validation).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

ERROR_SCHEMA = "ErrorResponse"
WRITES = {"post", "put", "patch", "delete"}

_DESCRIPTIONS = {
    "401": "No or an invalid bearer token (`unauthenticated`)",
    "403": "The caller's roles do not allow this (`forbidden`, `role_required`, ...)",
    "404": "Not found, or outside the caller's tenant subtree (`not_found`, `unknown_tenant`, ...)",
    "409": "Conflict with the current state (`conflict`, `invalid_transition`, `concurrent_update`: retry)",
    "422": "The request is not valid (`validation_failed` with one entry per problem in `details`, ...)",
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


def _names_tenant(schema: dict[str, Any], operation: dict[str, Any]) -> bool:
    """Whether the operation's JSON body has a ``tenant`` field (an unknown or invisible one is a 404)."""
    content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    body = content.get("schema", {})
    ref = body.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        body = schema["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
    return "tenant" in body.get("properties", {})


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
            if (
                "{" in path
                or any(p.get("name") == "tenant" for p in params)
                or _names_tenant(schema, operation)
            ):
                codes.add("404")
            if method in WRITES:
                codes.add("409")
            if params or "requestBody" in operation or "422" in operation["responses"]:
                codes.add("422")
            responses = operation["responses"]
            for code in sorted(codes):
                responses[code] = {"description": _DESCRIPTIONS[code], **ref}
    return schema


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` document the real error responses."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
