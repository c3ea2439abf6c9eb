"""Your own notification preferences (language, channel opt-outs, quiet hours, digest)."""

from __future__ import annotations

from fastapi import APIRouter

from steward.kit.db import utcnow
from steward.kit.http import DatabaseDep, PrincipalDep
from steward.notify.preferences.models import Preference
from steward.notify.preferences.schemas import PreferenceIn, PreferenceOut

router = APIRouter(prefix="/v1/preferences", tags=["preferences"])


def _out(p: Preference) -> PreferenceOut:
    return PreferenceOut(**p.model_dump(exclude={"tenant", "updated_at"}))


@router.get("/me", response_model=PreferenceOut)
async def get_view(db: DatabaseDep, principal: PrincipalDep) -> PreferenceOut:
    async with db.read() as session:
        row = await session.get(Preference, principal.subject)
    return _out(row) if row else PreferenceOut(subject=principal.subject)


@router.put("/me", response_model=PreferenceOut)
async def put_view(db: DatabaseDep, principal: PrincipalDep, body: PreferenceIn) -> PreferenceOut:
    async with db.transaction() as session:
        row = await session.get(Preference, principal.subject) or Preference(
            subject=principal.subject, tenant=principal.tenant
        )
        for k, v in body.model_dump().items():
            setattr(row, k, v)
        row.updated_at = utcnow()
        session.add(row)
        return _out(row)
