"""Input policy shared by every REST body, query, path and gRPC request of every service.

PostgreSQL text and JSONB cannot hold a NUL character, and a lone UTF-16 surrogate (valid in JSON as
``"\\ud800"``) cannot be encoded as UTF-8: either would reach the database as a 500. They, and the
other C0 control characters (tab, newline and carriage return excepted), are refused up front with
a 422 (``invalid_data``) — bodies through :class:`Input`, paths and query strings through the
:func:`clean_request` router dependency, gRPC fields through :func:`clean`.

Tenant codes are administrative division codes (6, 9 or 12 digits): :data:`TenantCode` in schemas,
:data:`TENANT_PATTERN` in queries, :func:`ensure_tenant_code` elsewhere. Free text has a length:
:data:`Name` (a line), :data:`Text` (a paragraph), :data:`LongText` (a document body).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, time
from typing import Annotated, Any

from fastapi import Request
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

from steward.kit.errors import ValidationFailed

TENANT_PATTERN = r"^[0-9]{6}([0-9]{3}){0,2}$"
TENANT_CODE = re.compile(TENANT_PATTERN)
TenantCode = Annotated[str, Field(pattern=TENANT_PATTERN, description="division code: 6, 9 or 12 digits")]

MAX_NAME = 200
MAX_TEXT = 2_000
MAX_LONG_TEXT = 10_000
MAX_GRPC_TEXT = MAX_LONG_TEXT

Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
"""A name or title: one line, not empty, at most 200 characters."""
Text = Annotated[str, Field(max_length=MAX_TEXT)]
"""A paragraph: at most 2,000 characters."""
LongText = Annotated[str, Field(max_length=MAX_LONG_TEXT)]
"""A document body: at most 10,000 characters."""

_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")


def _iso_instant(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATETIME.match(value.strip()):
        raise ValueError("must be an ISO 8601 date-time, e.g. 2026-11-30T09:00:00+08:00")
    return value


Instant = Annotated[datetime, BeforeValidator(_iso_instant)]
"""A date-time given as ISO 8601 text only (the lax parser would take ``0.5`` as a Unix time)."""

LOCAL_TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"


def _local_time(value: Any) -> Any:
    if isinstance(value, time):
        return value
    if not isinstance(value, str) or not re.match(LOCAL_TIME_PATTERN, value.strip()):
        raise ValueError("must be a local time HH:MM or HH:MM:SS, e.g. 22:00")
    return value


LocalTime = Annotated[
    time,
    BeforeValidator(_local_time),
    PlainSerializer(lambda t: t.strftime("%H:%M:%S"), return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": LOCAL_TIME_PATTERN,
            "examples": ["22:00"],
            "description": "local time HH:MM[:SS]",
        }
    ),
]
"""A wall-clock time of day without a zone (quiet hours): ``HH:MM`` or ``HH:MM:SS`` in and
``HH:MM:SS`` out, documented as such (OpenAPI's ``format: time`` requires a UTC offset)."""

_CONTROL = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")


def bad_text(value: str) -> str | None:
    """Why a string cannot be stored (None: it can)."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (no lone surrogates)"
    if _CONTROL.search(value):
        return "must not contain control characters"
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
    """gRPC string fields: storable text of a sane length, else INVALID_ARGUMENT (``invalid_data``)."""
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
                    code="invalid_data",
                    details=[{"loc": [name], "message": reason, "type": "invalid_data"}],
                )


async def clean_request(request: Request) -> None:
    """Router dependency: path and query parameters carry storable text only."""
    clean(path=str(request.scope.get("path", "")))
    for name, value in request.query_params.multi_items():
        clean(query_parameter=name)
        clean(**{name: value})


def is_tenant_code(value: str) -> bool:
    return TENANT_CODE.fullmatch(value) is not None


def ensure_tenant_code(value: str, field: str = "tenant") -> str:
    """``value`` when it is a division code, else a 422 ``invalid_tenant``."""
    if not is_tenant_code(value):
        raise ValidationFailed(
            f"{field}: not a tenant code (6, 9 or 12 digits)",
            code="invalid_tenant",
            details=[{"loc": [field], "message": "6, 9 or 12 digits", "type": "invalid_tenant"}],
        )
    return value
