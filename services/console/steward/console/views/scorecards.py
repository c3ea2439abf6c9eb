"""Scorecards (考核): the subjects scored in a period and one person's or unit's score, each
dimension with every ledger entry behind it (rule, source event, date, points asked and applied,
floor/cap notes), manual entries by evaluators and corrections by those the scoring service
allows."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from steward.console.api import Api, ApiError, gather
from steward.console.fmt import SHANGHAI
from steward.console.views.home import today
from steward.console.views.scoring_common import (
    LEVELS_ZH,
    MINUS,
    PERIOD_KINDS,
    SOURCE_TYPES,
    bounds,
    can_correct,
    can_enter,
    decimal_of,
    default_period,
    kind_of,
    period_of,
    recent_periods,
)
from steward.console.web import ApiDep, Csrf, UserDep, form_str, redirect, render

router = APIRouter()
Key = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Subject = Annotated[str, Path(min_length=1, max_length=64)]
PERIOD = r"^[0-9]{4}(-(0[1-9]|1[0-2]|Q[1-4]|H[12]))?$"
PeriodQ = Annotated[str | None, Query(pattern=PERIOD)]
TenantQ = Annotated[str | None, Query(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$")]
CORRECTION_ERRORS = {
    "already_corrected": "该记录已更正过，不能重复更正",
    "period_closed": "该考核期已结账，不能再更正",
    "correction_of_correction": "更正记录不能再更正，请另行记录",
}
MAX_TOTALS = 60  # subjects whose totals the list page fetches (the rest link to their page)


async def card_of(api: Api, key: str, tenant: str | None) -> dict[str, Any]:
    section = await api.get("scoring", "/v1/scoring/scorecards", tenant=tenant) or {}
    card = next((c for c in section.get("definitions") or [] if c.get("key") == key), None)
    if card is None:
        raise ApiError(404, "unknown_scorecard", "本地区规则中没有该考核表")
    return dict(card)


def scorecard_url(card: str, subject: str, period: str, tenant: str | None = None) -> str:
    query = {"period": period, **({"tenant": tenant} if tenant else {})}
    return f"/scoring/scorecards/{card}/{subject}?{urlencode(query)}"


async def ledger_subjects(api: Api, card: str, period: str, tenant: str | None) -> list[dict[str, Any]]:
    """Subjects with entries in the period, from the service's ledger export (CSV)."""
    resp = await api.raw(
        "scoring",
        "/v1/scoring/ledger/export",
        scorecard=card,
        period=period,
        format="csv",
        **({"tenant": tenant} if tenant else {}),
    )
    subjects: dict[str, dict[str, Any]] = {}
    for row in csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig"))):
        sid = row.get("subject_id") or ""
        if not sid:
            continue
        s = subjects.setdefault(
            sid, {"subject_id": sid, "subject_name": row.get("subject_name") or "", "entries": 0}
        )
        s["entries"] += 1
        s["subject_name"] = s["subject_name"] or row.get("subject_name") or ""
    return sorted(subjects.values(), key=lambda s: s["subject_id"])


@router.get("/scoring/scorecards/{card}")
async def scorecard_subjects(
    request: Request, user: UserDep, api: ApiDep, card: Key, period: PeriodQ = None, tenant: TenantQ = None
) -> Response:
    definition = await card_of(api, card, tenant)
    kind = definition.get("period", "quarter")
    if not period or kind_of(period) != kind:
        period = default_period(kind)
    subjects = await ledger_subjects(api, card, period, tenant)
    scores = await gather(
        *(
            api.maybe(
                "scoring", f"/v1/scoring/scores/{card}/{s['subject_id']}", None, period=period, tenant=tenant
            )
            for s in subjects[:MAX_TOTALS]
        )
    )
    for s, score in zip(subjects, scores, strict=False):
        s["total"] = (score or {}).get("total")
        s["subject_name"] = s["subject_name"] or (score or {}).get("subject_name") or ""
    subjects.sort(key=lambda s: (-(decimal_of(s.get("total")) or 0), s["subject_id"]))
    periods = recent_periods(kind)
    return render(
        request,
        "scorecard_list.html",
        nav="scoring",
        card=definition,
        period=period,
        periods=periods if period in periods else [*periods, period],
        period_kinds=PERIOD_KINDS,
        subjects=subjects,
        tenant=tenant or "",
        url=lambda sid: scorecard_url(card, sid, period, tenant),
    )


def _grouped(score: dict[str, Any]) -> list[dict[str, Any]]:
    """Each dimension with its entries (event-time order, as the service applied them)."""
    entries = list(score.get("entries") or [])
    corrected = {str(e["corrects"]) for e in entries if e.get("corrects")}
    by_id = {str(e["id"]): e for e in entries}
    out = []
    for dim in score.get("dimensions") or []:
        rows = []
        for e in entries:
            if e.get("dimension") != dim.get("key"):
                continue
            row = dict(e)
            row["corrected"] = str(e["id"]) in corrected
            row["corrects_entry"] = by_id.get(str(e.get("corrects") or ""))
            asked, applied = decimal_of(e.get("points")), decimal_of(e.get("applied"))
            row["partial"] = applied is not None and asked is not None and applied != asked
            rows.append(row)
        lost = (decimal_of(dim.get("max_points")) or 0) - (decimal_of(dim.get("value")) or 0)
        out.append({**dim, "entries": rows, "lost": lost})
    return out


@router.get("/scoring/scorecards/{card}/{subject}")
async def scorecard_page(
    request: Request,
    user: UserDep,
    api: ApiDep,
    card: Key,
    subject: Subject,
    period: PeriodQ = None,
    tenant: TenantQ = None,
) -> Response:
    definition = await card_of(api, card, tenant)
    kind = definition.get("period", "quarter")
    if not period or kind_of(period) != kind:
        period = default_period(kind)
    score, consequences, surveys = await gather(
        api.get("scoring", f"/v1/scoring/scores/{card}/{subject}", period=period, tenant=tenant),
        api.maybe("scoring", "/v1/scoring/consequences", None, subject_id=subject, tenant=tenant, limit=20),
        api.maybe("scoring", "/v1/scoring/surveys", None, subject_id=subject, tenant=tenant, limit=20),
    )
    periods = recent_periods(kind)
    return render(
        request,
        "scorecard.html",
        nav="scoring",
        card=definition,
        score=score,
        dimensions=_grouped(score),
        period=period,
        periods=periods if period in periods else [*periods, period],
        period_kinds=PERIOD_KINDS,
        tenant=tenant or "",
        consequences=consequences or [],
        surveys=[s for s in surveys or [] if s.get("answered_at")],
        may_correct=can_correct(user) and not score.get("closed"),
        may_enter=can_enter(user) and not score.get("closed"),
        entry_key=uuid.uuid4().hex,
        first_day=bounds(period)[0].isoformat(),
        last_day=bounds(period)[1].isoformat(),
        default_day=min(today(), bounds(period)[1]).isoformat(),
        back=scorecard_url(card, subject, period, tenant),
        source_types=SOURCE_TYPES,
        levels_zh=LEVELS_ZH,
    )


@router.post("/scoring/entries/{entry_id}/corrections", dependencies=[Csrf])
async def correct_entry(request: Request, user: UserDep, api: ApiDep, entry_id: uuid.UUID) -> Response:
    form = await request.form()
    back = form_str(form, "back")
    if not back.startswith("/scoring/scorecards/"):
        back = "/scoring"
    reason = form_str(form, "reason_zh")
    if len(reason) < 2:
        return redirect(request, back, flash="更正未提交：请填写更正理由（至少2个字）")
    try:
        await api.post("scoring", f"/v1/scoring/entries/{entry_id}/corrections", {"reason_zh": reason})
    except ApiError as exc:
        if exc.status == 401 or exc.status >= 500:
            raise
        text = CORRECTION_ERRORS.get(exc.code) or ("无权更正该记录" if exc.status == 403 else exc.text)
        return redirect(request, back, flash=f"更正未完成：{text}")
    return redirect(request, back, flash="已更正：原记录作废，已记入一条相反的更正记录")


def _manual(form: Any, kind: str, period: str) -> dict[str, Any] | str:
    """The manual entry of a form, or what is wrong with it (in Chinese)."""
    raw = form_str(form, "points").replace(MINUS, "-").replace("＋", "+").replace("－", "-")
    points = decimal_of(raw)
    if (
        points is None
        or not points.is_finite()
        or points == 0
        or abs(points) > 100
        or points != points.quantize(Decimal("0.01"))
    ):
        return "分值须为非零数字，最多两位小数，如 -2 或 +1.5"
    reason = form_str(form, "reason_zh")
    if len(reason) < 2:
        return "请填写事由（至少2个字）"
    try:
        day = date.fromisoformat(form_str(form, "date"))
    except ValueError:
        return "请填写发生日期"
    if period_of(kind, day.year, day.month) != period:
        return "发生日期须在本考核期内"
    at = datetime.combine(day, time(12), SHANGHAI)
    now = datetime.now(SHANGHAI)
    return {
        "dimension": form_str(form, "dimension"),
        "points": str(points),
        "reason_zh": reason,
        "occurred_at": (min(at, now) if day == now.date() else at).isoformat(),
    }


@router.post("/scoring/scorecards/{card}/{subject}/entries", dependencies=[Csrf])
async def manual_entry(
    request: Request,
    user: UserDep,
    api: ApiDep,
    card: Key,
    subject: Subject,
    period: Annotated[str, Query(pattern=PERIOD)],
    tenant: TenantQ = None,
) -> Response:
    """A manual entry (综合评价, 思想政治素质 …) with its reason; the form's key records it once."""
    back = scorecard_url(card, subject, period, tenant)
    definition = await card_of(api, card, tenant)
    form = await request.form()
    entry = _manual(form, definition.get("period", "quarter"), period)
    if isinstance(entry, str):
        return redirect(request, back, flash=f"未记录：{entry}")
    body = {
        **entry,
        "tenant": tenant or user.tenant,
        "scorecard": card,
        "subject_id": subject,
        "subject_name": form_str(form, "subject_name")[:200] or None,
        "key": form_str(form, "key")[:64] or None,
    }
    try:
        await api.post("scoring", "/v1/scoring/entries", body)
    except ApiError as exc:
        if exc.status == 401 or exc.status >= 500:
            raise
        text = "无权录入该对象的分数" if exc.status == 403 else exc.text
        return redirect(request, back, flash=f"未记录：{text}")
    return redirect(request, back, flash="已记录")
