"""Domain errors: one type per failure class, mapped to HTTP and gRPC status codes in one place."""

from __future__ import annotations

from typing import Any

import grpc


class DomainError(Exception):
    """A failure the caller caused or must know about. Never a 5xx."""

    status_code: int = 400
    grpc_code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or []

    def to_body(self, request_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message, "details": self.details}
        if request_id:
            body["request_id"] = request_id
        return {"error": body}


class ValidationFailed(DomainError):
    status_code = 422
    code = "validation_failed"


class NotFound(DomainError):
    status_code = 404
    grpc_code = grpc.StatusCode.NOT_FOUND
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    grpc_code = grpc.StatusCode.ALREADY_EXISTS
    code = "conflict"


class InvalidTransition(DomainError):
    status_code = 409
    grpc_code = grpc.StatusCode.FAILED_PRECONDITION
    code = "invalid_transition"


class Unauthenticated(DomainError):
    status_code = 401
    grpc_code = grpc.StatusCode.UNAUTHENTICATED
    code = "unauthenticated"


class Forbidden(DomainError):
    status_code = 403
    grpc_code = grpc.StatusCode.PERMISSION_DENIED
    code = "forbidden"


def pydantic_details(errors: list[Any]) -> list[dict[str, Any]]:
    """Turn pydantic's error list into our machine-readable detail items."""
    out = []
    for err in errors:
        out.append(
            {
                "loc": [str(p) for p in err.get("loc", ())],
                "message": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    return out


class Unavailable(DomainError):
    """A dependency (database, another service, the bus) is unavailable right now: retry later.
    REST answers 503 with ``Retry-After``; gRPC UNAVAILABLE, which the kit's clients retry."""

    status_code = 503
    grpc_code = grpc.StatusCode.UNAVAILABLE
    code = "unavailable"
