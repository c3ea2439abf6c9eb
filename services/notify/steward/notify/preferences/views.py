"""Your own notification preferences (language, channel opt-outs, quiet hours, digest)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from steward.kit.auth import Principal
from steward.kit.db import utcnow
from steward.kit.errors import Forbidden
from steward.kit.http import DatabaseDep, PrincipalDep
from steward.kit.inputs import clean_request
from steward.kit.tenancy import ALL_TENANTS
from steward.notify.preferences.models import Preference
from steward.notify.preferences.schemas import PreferenceIn, PreferenceOut

router = APIRouter(prefix="/v1/preferences", tags=["preferences"], dependencies=[Depends(clean_request)])


def _own(row: Preference | None, principal: Principal) -> Preference | None:
    """Scoped by tenant and subject, like the inbox: a token of another tenant carrying the same
    ``sub`` neither reads nor changes these preferences."""
    if row is not None and principal.tenant != ALL_TENANTS and row.tenant != principal.tenant:
        raise Forbidden("these preferences belong to a subject of another tenant", code="tenant_mismatch")
    return row


def _out(p: Preference) -> PreferenceOut:
    return PreferenceOut(**p.model_dump(exclude={"tenant", "updated_at"}))


@router.get("/me", response_model=PreferenceOut)
async def get_view(db: DatabaseDep, principal: PrincipalDep) -> PreferenceOut:
    async with db.read() as session:
        row = _own(await session.get(Preference, principal.subject), principal)
    return _out(row) if row else PreferenceOut(subject=principal.subject)


@router.put("/me", response_model=PreferenceOut)
async def put_view(db: DatabaseDep, principal: PrincipalDep, body: PreferenceIn) -> PreferenceOut:
    async with db.transaction() as session:
        row = _own(await session.get(Preference, principal.subject), principal) or Preference(
            subject=principal.subject, tenant=principal.tenant
        )
        for k, v in body.model_dump().items():
            setattr(row, k, v)
        row.updated_at = utcnow()
        session.add(row)
        return _out(row)
