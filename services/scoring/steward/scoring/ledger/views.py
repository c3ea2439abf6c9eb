"""REST API of the ledger: a subject's score with every entry, manual entries, corrections, facts,
and the ledger export (CSV / XLSX)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from steward.kit.http import PrincipalDep
from steward.kit.inputs import clean_request
from steward.scoring import access, exports
from steward.scoring.context import CtxDep
from steward.scoring.ledger import scores, service
from steward.scoring.ledger.schemas import CorrectionIn, EntryOut, ManualEntryIn, ScoreOut
from steward.scoring.periods.keys import PERIOD_PATTERN, ensure_kind

router = APIRouter(prefix="/v1/scoring", tags=["ledger"], dependencies=[Depends(clean_request)])
Key = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
PeriodQ = Annotated[str, Query(pattern=PERIOD_PATTERN)]
TenantQ = Annotated[str | None, Query(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$")]


@router.get(
    "/scores/{scorecard}/{subject_id}",
    response_model=ScoreOut,
    summary="A subject's score: every dimension and every entry behind it (points asked vs applied)",
)
async def get_score(
    ctx: CtxDep,
    principal: PrincipalDep,
    scorecard: Key,
    subject_id: Annotated[str, Path(min_length=1, max_length=64)],
    period: PeriodQ,
    tenant: TenantQ = None,
) -> ScoreOut:
    code, path = await access.readable(ctx, principal, tenant)
    card = await access.scorecard(ctx, code, scorecard)
    ensure_kind(period, card.period)
    async with ctx.db.read() as session:
        return await scores.score_of(
            session, card=card, tenant=code, path=path, period=period, subject_id=subject_id
        )


@router.post(
    "/entries", response_model=EntryOut, status_code=201, summary="Record a manual entry (evaluators)"
)
async def manual_entry(ctx: CtxDep, principal: PrincipalDep, body: ManualEntryIn) -> EntryOut:
    code, path = await access.writable(ctx, principal, body.tenant)
    card = await access.scorecard(ctx, code, body.scorecard)
    async with ctx.db.transaction() as session:
        e = await service.manual(
            session, principal=principal, data=body, card=card, path=path, now=ctx.clock()
        )
        return scores.entry_out(e)


@router.post(
    "/entries/{entry_id}/corrections",
    response_model=EntryOut,
    status_code=201,
    summary="Correct an entry: an opposite entry linked to it, with the reason (supervisors, admins)",
)
async def correct_entry(
    ctx: CtxDep, principal: PrincipalDep, entry_id: uuid.UUID, body: CorrectionIn
) -> EntryOut:
    async with ctx.db.transaction() as session:
        e = await service.correct(
            session, principal=principal, entry_id=entry_id, reason_zh=body.reason_zh, now=ctx.clock()
        )
        return scores.entry_out(e)


@router.get(
    "/ledger/export",
    summary="The ledger of a scorecard period as CSV or XLSX",
    responses=exports.RESPONSES,
    response_class=Response,
)
async def export_ledger(
    ctx: CtxDep,
    principal: PrincipalDep,
    scorecard: Annotated[str, Query(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)],
    period: PeriodQ,
    tenant: TenantQ = None,
    format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "csv",
) -> Response:
    code, path = await access.readable(ctx, principal, tenant)
    async with ctx.db.read() as session:
        rows = await service.entries_of(session, path=path, scorecard=scorecard, period=period)
    header = [
        "id",
        "tenant",
        "subject_id",
        "subject_name",
        "dimension",
        "points",
        "rule",
        "reason_zh",
        "source",
        "occurred_at",
        "recorded_at",
        "actor",
        "corrects",
    ]
    data = [
        [
            str(e.id),
            e.tenant,
            e.subject_id,
            e.subject_name or "",
            e.dimension,
            str(e.points),
            e.rule,
            e.reason_zh,
            e.source,
            e.occurred_at.isoformat(),
            e.recorded_at.isoformat(),
            e.actor or "",
            str(e.corrects or ""),
        ]
        for e in rows
    ]
    return exports.respond(f"ledger-{code}-{scorecard}-{period}", header, data, format)
