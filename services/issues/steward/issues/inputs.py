"""Input hygiene shared by every REST body, query, path and gRPC request of the issues service.

PostgreSQL text and JSONB cannot hold a NUL character, and a lone UTF-16 surrogate (valid in JSON as
``"\\ud800"``) cannot be encoded as UTF-8: either used to reach the database as a 500. They are
refused up front with a 422 (``invalid_text``) — bodies through :class:`Input`, paths and query
strings through the :func:`clean_request` router dependency, gRPC fields through :func:`clean`.
Tenant codes are administrative division codes (6, 9 or 12 digits) and are checked before the
registry is asked about them. Deadlines given as dates must lie within :data:`MAX_HORIZON_DAYS`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from steward.kit.errors import ValidationFailed

TENANT_PATTERN = r"^[0-9]{6}([0-9]{3}){0,2}$"
TenantCode = Annotated[str, Field(pattern=TENANT_PATTERN, description="division code: 6, 9 or 12 digits")]
MAX_HORIZON_DAYS = 3 * 366  # a deadline given as a date lies within three years of today
MAX_GRPC_TEXT = 10_000


def bad_text(value: str) -> str | None:
    """Why a string cannot be stored (None: it can)."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (no lone surrogates)"
    return None


def _walk(value: Any, loc: tuple[str, ...]) -> tuple[tuple[str, ...], str] | None:
    if isinstance(value, str):
        reason = bad_text(value)
        return (loc, reason) if reason else None
    if isinstance(value, dict):
        for k, v in value.items():
            found = _walk(str(k), (*loc, str(k))) or _walk(v, (*loc, str(k)))
            if found:
                return found
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            found = _walk(v, (*loc, str(i)))
            if found:
                return found
    return None


class Input(BaseModel):
    """Base of every request body: unknown fields refused, strings stripped, storable text only."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        found = _walk(data, ())
        if found:
            loc, reason = found
            raise ValueError(f"{'.'.join(loc) or 'value'}: {reason}")
        return data


def clean(**fields: str | Iterable[str] | None) -> None:
    """gRPC string fields: storable text of a sane length, else INVALID_ARGUMENT."""
    for name, value in fields.items():
        values = [value] if isinstance(value, str) or value is None else list(value)
        for v in values:
            if v is None:
                continue
            reason = bad_text(v) or (
                f"longer than {MAX_GRPC_TEXT} characters" if len(v) > MAX_GRPC_TEXT else None
            )
            if reason:
                raise ValidationFailed(
                    f"{name}: {reason}",
                    code="invalid_text",
                    details=[{"loc": [name], "message": reason, "type": "invalid_text"}],
                )


async def clean_request(request: Request) -> None:
    """Router dependency: path and query parameters carry storable text only."""
    clean(path=str(request.scope.get("path", "")))
    for name, value in request.query_params.multi_items():
        clean(**{name: value})


def ensure_tenant_code(value: str, field: str = "tenant") -> str:
    if not re.fullmatch(TENANT_PATTERN, value):
        raise ValidationFailed(
            f"{field}: not a tenant code (6, 9 or 12 digits)",
            code="invalid_tenant",
            details=[{"loc": [field], "message": "6, 9 or 12 digits", "type": "invalid_tenant"}],
        )
    return value
