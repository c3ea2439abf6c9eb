"""REST API of surveys: the one-time answer link (no sign-in: the signed link is the credential),
survey lists and rectifications (整改) with call-backs."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from sqlmodel import col, select

from steward.kit.http import PrincipalDep
from steward.kit.inputs import clean_request
from steward.kit.tenancy import subtree_clause
from steward.scoring import access
from steward.scoring.context import CtxDep
from steward.scoring.surveys import service
from steward.scoring.surveys.models import Rectification, Survey
from steward.scoring.surveys.schemas import (
    LEVEL_ZH,
    AnswerIn,
    CallbackIn,
    CloseRectificationIn,
    RectificationOut,
    SurveyForm,
    SurveyItemOut,
    SurveyOut,
)

router = APIRouter(prefix="/v1/scoring", tags=["surveys"], dependencies=[Depends(clean_request)])
Token = Annotated[str, Path(min_length=10, max_length=200)]
TenantQ = Annotated[str | None, Query(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$")]


def survey_out(s: Survey) -> SurveyOut:
    return SurveyOut.model_validate(s, from_attributes=True)


def rect_out(r: Rectification) -> RectificationOut:
    return RectificationOut.model_validate(r, from_attributes=True)


@router.get("/surveys/answer/{token}", response_model=SurveyForm, summary="The survey form behind a link")
async def survey_form(ctx: CtxDep, token: Token) -> SurveyForm:
    async with ctx.db.read() as session:
        s = await service.by_token(session, ctx=ctx, token=token)
    definition = await access.survey(ctx, s.tenant, s.survey)
    return SurveyForm(
        survey_id=s.id,
        name_zh=definition.name_zh,
        subject_id=s.subject_id,
        project_code=s.project_code,
        items=[SurveyItemOut(key=i.key, name_zh=i.name_zh) for i in definition.items],
        levels=[{"key": lv, "name_zh": LEVEL_ZH[lv]} for lv in definition.levels],
        answered=s.answered_at is not None,
        expires_at=s.expires_at,
    )


@router.post("/surveys/answer/{token}", response_model=SurveyOut, summary="Answer a survey (once)")
async def answer_survey(ctx: CtxDep, token: Token, body: AnswerIn) -> SurveyOut:
    async with ctx.db.read() as session:
        s = await service.by_token(session, ctx=ctx, token=token)
    definition = await access.survey(ctx, s.tenant, s.survey)
    rules = await ctx.registry.rules(s.tenant)
    async with ctx.db.transaction() as session:
        answered = await service.answer(
            session, ctx=ctx, token=token, data=body, definition=definition, rules=rules, now=ctx.clock()
        )
        return survey_out(answered)


@router.get("/surveys", response_model=list[SurveyOut], summary="Surveys in the tenant subtree, newest first")
async def list_surveys(
    ctx: CtxDep,
    principal: PrincipalDep,
    tenant: TenantQ = None,
    subject_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[SurveyOut]:
    _, path = await access.readable(ctx, principal, tenant)
    stmt = select(Survey).where(subtree_clause(Survey.tenant_path, path))
    if subject_id:
        stmt = stmt.where(Survey.subject_id == subject_id)
    async with ctx.db.read() as session:
        rows = (await session.exec(stmt.order_by(col(Survey.sent_at).desc()).limit(limit))).all()
    return [survey_out(s) for s in rows]


@router.get("/rectifications", response_model=list[RectificationOut], summary="Rectifications in the subtree")
async def list_rectifications(
    ctx: CtxDep,
    principal: PrincipalDep,
    tenant: TenantQ = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[RectificationOut]:
    _, path = await access.readable(ctx, principal, tenant)
    stmt = select(Rectification).where(subtree_clause(Rectification.tenant_path, path))
    async with ctx.db.read() as session:
        rows = (await session.exec(stmt.order_by(col(Rectification.opened_at).desc()).limit(limit))).all()
    return [rect_out(r) for r in rows]


@router.post(
    "/rectifications/{rect_id}/callbacks", response_model=RectificationOut, summary="Record a call-back"
)
async def add_callback(
    ctx: CtxDep, principal: PrincipalDep, rect_id: uuid.UUID, body: CallbackIn
) -> RectificationOut:
    async with ctx.db.transaction() as session:
        r = await service.add_callback(
            session, principal=principal, rect_id=rect_id, note=body.note, now=ctx.clock()
        )
        return rect_out(r)


@router.post(
    "/rectifications/{rect_id}/close", response_model=RectificationOut, summary="Close a rectification"
)
async def close_rectification(
    ctx: CtxDep, principal: PrincipalDep, rect_id: uuid.UUID, body: CloseRectificationIn
) -> RectificationOut:
    async with ctx.db.transaction() as session:
        r = await service.close_rectification(
            session,
            principal=principal,
            rect_id=rect_id,
            confirmed=body.confirmed_by_enterprise,
            reason=body.reason,
            now=ctx.clock(),
        )
        return rect_out(r)
