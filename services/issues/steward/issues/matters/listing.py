"""Matter lists: the filters of ``GET /v1/matters`` and its work queues on a tenant subtree, the
text search on its bigram index, and newest-first keyset pages.

``service.list_matters`` hands out table rows (gRPC); ``list_page`` is the REST page: it reads only
the columns a ``MatterOut`` shows, as plain rows (no entities, no identity map, none of the JSONB
documents a list does not show), and validates the whole page in one pydantic call from dicts that
hold what ``service.to_out`` would pass."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.issues.matters import deadlines as dl
from steward.issues.matters.models import OPEN_STATUSES, Matter
from steward.issues.matters.schemas import RATING_LABELS, MatterFilter, MatterList
from steward.kit.auth import Principal
from steward.kit.calendar import DEFAULT_TZ
from steward.kit.paging import keyset_page, scoped
from steward.rules.catalogue import DEFAULT_TAXONOMY

ORDER = (Matter.filed_at, Matter.id)

# models.SEARCH_BIGRAMS with qualified columns: the planner matches it to the index expression
_SEARCH_DOC = "steward_bigrams(lower(matters.title || ' ' || matters.number))"
_EQUALS = ("category", "project_id", "responsible_unit_id", "handling_tenant", "meeting_id")


def filtered(stmt: Any, *, principal: Principal, f: MatterFilter, base_path: str | None) -> Any:
    """``stmt`` narrowed to the caller's subtree (``base_path``; None: all) and the filters."""
    stmt = scoped(stmt, Matter.tenant_path, base_path)
    if principal.is_enterprise:
        stmt = stmt.where(Matter.owner_unit_id == (principal.unit or "-"))
    if f.kinds:
        stmt = stmt.where(col(Matter.kind).in_([k.value for k in f.kinds]))
    if f.statuses:
        stmt = stmt.where(col(Matter.status).in_([s.value for s in f.statuses]))
    if f.open_only:
        stmt = stmt.where(col(Matter.status).in_(OPEN_STATUSES))
    if f.tiers:
        stmt = stmt.where(col(Matter.tier).in_([t.value for t in f.tiers]))
    for attr in _EQUALS:
        value = getattr(f, attr)
        if value is not None:
            stmt = stmt.where(getattr(Matter, attr) == value)
    if f.overdue is not None:
        stmt = stmt.where(Matter.overdue == f.overdue)
    if f.q:
        stmt = stmt.where(
            # ix_matters_search: the title and number hold every character pair of q (the LIKEs recheck)
            sa.literal_column(_SEARCH_DOC).op("@>")(
                sa.func.steward_bigrams(sa.func.lower(sa.cast(f.q, sa.Text)))
            ),
            sa.or_(
                col(Matter.title).contains(f.q, autoescape=True),
                col(Matter.number).contains(f.q, autoescape=True),
            ),
        )
    return stmt


# Category names of the default taxonomy, used when the caller has no tenant taxonomy at hand.
DEFAULT_CATEGORY_ZH = {code: name_zh for code, name_zh, *_ in DEFAULT_TAXONOMY}

# What a MatterOut shows, under its names (``tenant``, ``paused`` …) or as read by ``row_to_item``.
_PAGE_COLUMNS: tuple[Any, ...] = (
    Matter.id,
    Matter.number,
    col(Matter.tenant_code).label("tenant"),
    Matter.handling_tenant,
    Matter.kind,
    Matter.status,
    Matter.tier,
    Matter.category,
    Matter.sub_item,
    Matter.title,
    Matter.description,
    Matter.project_id,
    Matter.project_code,
    Matter.project_name,
    Matter.reporter,
    Matter.responsible_unit_id,
    Matter.responsible_unit_name,
    Matter.responsible_person,
    Matter.difficult,
    Matter.filed_at,
    Matter.sla_days,
    Matter.due_at,
    Matter.answer_due_at,
    Matter.answered_at,
    col(Matter.paused_at).is_not(None).label("paused"),
    Matter.paused_working_days,
    Matter.overdue,
    Matter.ever_overdue,
    Matter.escalations,
    col(Matter.meeting_topic_at).is_not(None).label("on_meeting_agenda"),
    Matter.accepted_at,
    Matter.resolved_at,
    Matter.closed_at,
    Matter.resolution,
    Matter.rating,
    Matter.details,
    Matter.attachments,
    Matter.row_version,
)


def row_to_item(row: Any) -> dict[str, Any]:
    """A ``MatterOut``'s input from a ``_PAGE_COLUMNS`` row: the values ``service.to_out`` passes
    with the default taxonomy (attachments are validated as ``Attachment`` by the page's model)."""
    item: dict[str, Any] = row._asdict()
    due_at = item["due_at"]
    item["category_zh"] = DEFAULT_CATEGORY_ZH.get(item["category"] or "")
    item["due_at"] = due_at.astimezone(DEFAULT_TZ)
    item["due_date"] = dl.due_date(due_at)
    item["rating_label"] = RATING_LABELS.get(item["rating"] or 0)
    return item


async def list_page(
    session: AsyncSession,
    *,
    principal: Principal,
    f: MatterFilter,
    base_path: str | None,
    limit: int,
    cursor: str | None,
) -> MatterList:
    """``service.list_matters``' page as the REST answer: same rows, same order, same cursor."""
    stmt = filtered(sa.select(*_PAGE_COLUMNS), principal=principal, f=f, base_path=base_path)
    rows, nxt = await keyset_page(session, stmt, order=ORDER, cursor=cursor, limit=limit)
    return MatterList.model_validate({"items": [row_to_item(r) for r in rows], "next_cursor": nxt})
