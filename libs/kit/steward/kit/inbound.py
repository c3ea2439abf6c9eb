"""Inbound callbacks from other government systems (docs/inbound.md): the sending systems' settings,
the signature they put on each request and the principal their messages act as.

Every request carries::

    Steward-System: <system name>
    Steward-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>

— the same scheme as Steward's outgoing webhooks (steward.notify.channels.signing), with a shared
secret per system. A request is refused with 401 (and logged by the security log) when the system is
unknown, the signature does not verify (compared in constant time) or the timestamp is outside the
window (replay). Several ``v1=`` values may be sent while a secret is rotated; any match is valid."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Header, Request
from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, ValidationError

from steward.kit.auth import Principal, Role
from steward.kit.errors import Unauthenticated
from steward.kit.inputs import TenantCode

SYSTEM_HEADER = "Steward-System"
SIGNATURE_HEADER = "Steward-Signature"
TOLERANCE_SECONDS = 300


class InboundSystem(BaseModel):
    """One sending system: its shared secret and the tenant subtree its messages may touch."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    secret: SecretStr = Field(min_length=16)
    tenant: TenantCode
    name_zh: str = Field(default="", max_length=100, description="e.g. 区政务服务审批系统")


SYSTEMS = TypeAdapter(dict[str, InboundSystem])


def load_systems(inline: dict[str, InboundSystem], file: Path | None) -> dict[str, InboundSystem]:
    """The systems of ``STEWARD_INBOUND_SYSTEMS`` and of the JSON file ``STEWARD_INBOUND_SYSTEMS_FILE``
    (a mounted Secret; read at each request so a rotated secret takes effect without a restart)."""
    systems = dict(inline)
    if file is not None:
        try:
            systems.update(SYSTEMS.validate_python(json.loads(file.read_text(encoding="utf-8"))))
        except (OSError, ValueError, ValidationError) as exc:
            raise Unauthenticated(
                "the inbound systems file cannot be read", code="inbound_not_configured"
            ) from exc
    return systems


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The ``Steward-Signature`` header value for ``body`` (what a sending system computes)."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def check_signature(
    secret: str, body: bytes, header: str, *, tolerance: int = TOLERANCE_SECONDS, now: float | None = None
) -> str | None:
    """``None`` when the header signs ``body`` within the window, else the reason it does not."""
    items = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v.strip() for k, v in items if k.strip() == "t"]
    sigs = [v.strip() for k, v in items if k.strip() == "v1"]
    if len(stamps) != 1 or not sigs or not stamps[0].isdigit():
        return "bad_signature"
    t = int(stamps[0])
    if abs((time.time() if now is None else now) - t) > tolerance:
        return "stale_timestamp"
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    matched = False
    for s in sigs:  # every candidate compared, in constant time
        matched |= hmac.compare_digest(expected, s)
    return None if matched else "bad_signature"


@dataclass(frozen=True)
class Sender:
    """A verified sending system."""

    name: str
    system: InboundSystem

    @property
    def principal(self) -> Principal:
        """Messages act as the system, within its tenant subtree (writes elsewhere: 403/404)."""
        return Principal(
            subject=f"system:{self.name}",
            tenant=self.system.tenant,
            roles=frozenset({Role.SERVICE, Role.AGENT}),
        )


async def verify_request(
    request: Request, systems: dict[str, InboundSystem], *, tolerance: int = TOLERANCE_SECONDS
) -> Sender:
    """The sender of a signed request, or 401 (the kit's error handler logs it as a security refusal)."""
    name = request.headers.get(SYSTEM_HEADER, "").strip()
    header = request.headers.get(SIGNATURE_HEADER, "")
    if not name or not header:
        raise Unauthenticated(
            f"inbound messages need the {SYSTEM_HEADER} and {SIGNATURE_HEADER} headers",
            code="signature_required",
        )
    system = systems.get(name)
    if system is None:
        raise Unauthenticated(f"unknown sending system {name[:64]!r}", code="unknown_system")
    reason = check_signature(
        system.secret.get_secret_value(), await request.body(), header, tolerance=tolerance
    )
    if reason == "stale_timestamp":
        raise Unauthenticated(
            f"signature timestamp of {name[:64]!r} is outside the {tolerance}s window", code=reason
        )
    if reason is not None:
        raise Unauthenticated(f"the signature of {name[:64]!r} does not verify", code="bad_signature")
    return Sender(name=name, system=system)


# header parameters of inbound operations (documented in OpenAPI; read again by ``verify_request``)
SystemHeader = Annotated[
    str | None, Header(alias=SYSTEM_HEADER, description="the sending system's configured name")
]
SignatureHeader = Annotated[
    str | None,
    Header(
        alias=SIGNATURE_HEADER,
        description='t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>',
    ),
]
