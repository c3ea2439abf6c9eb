"""Matters: filing (numbered, deadline fixed under the rules then), reading, listing, history, events."""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events import issues as ev
from steward.issues import metrics
from steward.issues.context import IssuesContext
from steward.issues.matters import deadlines as dl
from steward.issues.matters import listing, timers
from steward.issues.matters.events import matter_event, record
from steward.issues.matters.filing import Filing, bad, look_up_filing
from steward.issues.matters.models import Matter, MatterHistory
from steward.issues.matters.schemas import (
    RATING_LABELS,
    Attachment,
    Kind,
    MatterCreate,
    MatterFilter,
    MatterOut,
    Status,
    Tier,
)
from steward.kit import writes
from steward.kit.auth import Principal
from steward.kit.calendar import DEFAULT_TZ
from steward.kit.db import Database, construct
from steward.kit.errors import Conflict, NotFound
from steward.kit.keyqueue import KeyQueue
from steward.kit.loads import Load, by_id_or_key
from steward.kit.paging import keyset_page
from steward.kit.tenancy import ALL_TENANTS, ensure_visible
from steward.rules import RulesDocument, rules_fingerprint
from steward.rules.catalogue import DEFAULT_TAXONOMY


async def prepare(
    ctx: IssuesContext, *, principal: Principal, data: MatterCreate, token: str | None
) -> Filing:
    """The filing look-up for a new matter."""
    return await look_up_filing(
        ctx,
        principal=principal,
        kind=data.kind,
        project_id=data.project_id,
        tenant=data.tenant,
        token=token,
    )


def filing_session(db: Database, data: MatterCreate) -> AbstractAsyncContextManager[AsyncSession]:
    """The session a filing (:func:`file` with ``alone``) goes in: its one statement on a pooled
    connection of a lone session (``Database.lone``: no SQLAlchemy transaction around it); a filing
    with an idempotency key looks the key up first, in a transaction."""
    return db.transaction() if data.idempotency_key else db.lone()


def _validate(data: MatterCreate, rules: RulesDocument) -> tuple[str | None, Tier]:
    m = rules.matters
    category = data.category
    if data.kind is Kind.COMPLAINT and category is None:
        category = "policy" if m.category("policy") else None
    if data.kind is Kind.OBSTACLE and not category:
        raise bad("category", "an obstacle needs a category of the tenant's taxonomy")
    cat = m.category(category) if category else None
    if category and cat is None:
        raise bad("category", f"unknown category {category!r}; known: {[c.code for c in m.taxonomy]}")
    if data.sub_item and (cat is None or data.sub_item not in {i.code for i in cat.items}):
        raise bad("sub_item", f"{data.sub_item!r} is not a sub-item of category {category!r}")
    if data.kind is Kind.PROCEDURE:
        raise bad("kind", "procedures are opened through a procedure file (POST /v1/procedure-files)")
    if data.kind is Kind.DECISION and data.decision is None:
        raise bad("decision", "a decision needs its meeting (decision.meeting_id)")
    if data.kind is not Kind.DECISION and data.decision is not None:
        raise bad("decision", "only decisions carry meeting details")
    if data.kind is Kind.COMPLAINT and data.complaint is None:
        raise bad("complaint", "a complaint names the unit complained about (complaint.against_unit)")
    if data.kind is not Kind.COMPLAINT and data.complaint is not None:
        raise bad("complaint", "only complaints carry complaint details")
    if data.due_date is not None and data.kind is not Kind.DECISION:
        raise bad("due_date", "only meeting decisions carry their own deadline; others follow the SLA")
    tier = data.tier or Tier(cat.default_tier if (cat and data.kind is Kind.OBSTACLE) else "unit")
    return category, tier


# the counter, taken inside a filing's one statement (kit.writes.Taken): the number itself, 编号
# ``<tenant>-<year>-<letter>-<seq>``; a constant statement (no Core tree built per filing, issue 15)
_NUMBER = sa.text(
    "INSERT INTO matter_number_counters (tenant_code, year, letter, last) "
    "VALUES (:n_tenant, :n_year, :n_letter, 1) "
    "ON CONFLICT (tenant_code, year, letter) DO UPDATE SET last = matter_number_counters.last + 1 "
    "RETURNING :n_prefix || lpad(last::text, greatest(6, length(last::text)), '0') AS value"
).bindparams(
    sa.bindparam("n_tenant", type_=sa.String()),
    sa.bindparam("n_year", type_=sa.Integer()),
    sa.bindparam("n_letter", type_=sa.String()),
    sa.bindparam("n_prefix", type_=sa.String()),
)

# the counter row serialises a tenant's filings; in the process they take their turns in arrival
# order (kit.keyqueue): a filing that is its transaction's only statement for that statement, at
# most 8 at once (measured: 4 costs -c8 a tenth, unbounded halves -c32 with row-lock thrash); one
# in a longer transaction (procedure files) until that transaction ends
_NUMBER_TURNS = KeyQueue(width=8)
_NUMBERING = KeyQueue()


def _number(tenant: str, year: int, letter: str) -> writes.Taken:
    """The next number, taken by the filing's own statement."""
    prefix = f"{tenant}-{year}-{letter}-"
    return writes.Taken(_NUMBER, {"n_tenant": tenant, "n_year": year, "n_letter": letter, "n_prefix": prefix})


async def _replay(
    session: AsyncSession, *, principal: Principal, data: MatterCreate, prep: Filing
) -> Matter | None:
    """The matter filed earlier with this idempotency key, if any. Concurrent filings with one key
    are serialised by a transaction-scoped advisory lock (no unique-violation 500). A key is only
    replayed to a caller who may see that matter and for the same kind and project: anyone else gets
    409 and nothing of the other matter (enterprise contacts share a tenant's key space)."""
    key = f"issues.matter.idempotency:{prep.tenant}:{data.idempotency_key}"
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(key, 0))))
    existing = (
        await session.exec(
            select(Matter).where(
                Matter.tenant_code == prep.tenant, Matter.idempotency_key == data.idempotency_key
            )
        )
    ).first()
    if existing is None:
        return None
    project_id = prep.project.id if prep.project is not None else None
    same = (existing.kind, existing.project_id) == (data.kind.value, project_id)
    if not (same and can_see(principal, existing)):
        raise Conflict(
            "idempotency_key was used for another matter; choose a new key", code="idempotency_key_reused"
        )
    return existing


async def file(
    session: AsyncSession,
    *,
    principal: Principal,
    data: MatterCreate,
    prep: Filing,
    now: datetime,
    details: dict[str, Any] | None = None,
    sla_days: int | None = None,
    procedure_file_id: uuid.UUID | None = None,
    reporter: str | None = None,
    alone: bool = False,
) -> Matter:
    """Create the matter with its number, deadline (working days after filing), history row and event.

    The number is taken by the filing's one statement. ``alone``: the caller's transaction does
    nothing else, so that statement goes as a transaction of its own when nothing was sent before it
    (an idempotency key is looked up first: then it goes inside the transaction, after the look-up)."""
    if data.idempotency_key:
        existing = await _replay(session, principal=principal, data=data, prep=prep)
        if existing is not None:
            return existing
    if data.kind is Kind.PROCEDURE:
        if procedure_file_id is None:
            raise bad("kind", "procedures are opened through a procedure file (POST /v1/procedure-files)")
        category, tier = None, data.tier or Tier.UNIT
    else:
        category, tier = _validate(data, prep.rules)
    policy = dl.policy_of(
        prep.rules,
        kind=data.kind.value,
        category=category,
        fingerprint=prep.fingerprint or rules_fingerprint(prep.rules),
    )
    cal = dl.calendar_of(policy)
    details = dict(details or {})
    if data.due_date is not None:
        if data.due_date < dl.local_date(now):
            raise bad("due_date", "the deadline is in the past")
        if (data.due_date - dl.local_date(now)).days > dl.MAX_HORIZON_DAYS:
            raise bad("due_date", f"the deadline is more than {dl.MAX_HORIZON_DAYS} days ahead")
        due_at = dl.end_of(data.due_date)
        days = max(0, cal.working_days_between(dl.local_date(now), data.due_date))
    else:
        days = sla_days if sla_days is not None else int(policy["sla"][tier.value])
        due_at = dl.deadline(cal, now, days)
    if data.decision is not None:
        details["decision"] = data.decision.model_dump()
    if data.complaint is not None:
        details["complaint"] = data.complaint.model_dump()
    p = prep.project
    year = dl.local_date(now).year
    taken = _number(prep.tenant, year, data.kind.letter)
    m = construct(
        Matter,
        number=taken.token,
        tenant_code=prep.tenant,
        tenant_path="/".join(a["code"] for a in prep.ancestry),
        ancestry=prep.ancestry,
        handling_tenant=dl.tenant_for_tier(prep.ancestry, tier.value),
        kind=data.kind.value,
        category=category,
        sub_item=data.sub_item,
        title=data.title,
        description=data.description,
        project_id=p.id if p else None,
        project_code=p.code if p else None,
        project_name=p.name if p else None,
        owner_unit_id=(p.owner_unit_id or None) if p else None,
        key_level=p.key_level if p else "none",
        reporter=reporter or principal.subject,
        reporter_unit_id=principal.unit,
        responsible_unit_id=data.responsible_unit_id,
        responsible_unit_name=data.responsible_unit_name,
        responsible_person=data.responsible_person,
        tier=tier.value,
        status=Status.FILED.value,
        difficult=data.difficult,
        details=details,
        attachments=[a.model_dump() for a in data.attachments],
        policy=policy,
        sla_days=days,
        filed_at=now,
        due_at=due_at,
        answer_due_at=dl.deadline(cal, now, int(policy["difficult_answer_days"])) if data.difficult else None,
        idempotency_key=data.idempotency_key,
        meeting_id=data.decision.meeting_id if data.decision else None,
        decision_id=data.decision.decision_id if data.decision else None,
        procedure_file_id=procedure_file_id,
        created_at=now,
        updated_at=now,
    )
    key = (prep.tenant, year, data.kind.letter)
    numbering: AbstractAsyncContextManager[Any] = nullcontext()
    if alone:
        numbering = _NUMBER_TURNS.turn(session, key)
    else:
        await _NUMBERING.enter(session, key)
    # the matter, history, audit, event, NOTIFY, timers and its number: one statement
    async with numbering, writes.batched(session, last=alone) as batch:
        batch.take(taken)
        writes.add(session, m, attach=True)
        await record(
            session,
            m,
            actor=principal.subject,
            action="filed",
            to_status=m.status,
            at=now,
            data={"sla_days": days, "due_at": due_at.isoformat(), "rules": policy["rules_fingerprint"][:12]},
            event=matter_event(
                m,
                ev.MatterFiled,
                title=m.title,
                reporter=m.reporter,
                sla_days=days,
                difficult=m.difficult,
            ),
        )
        await timers.arm(session, m, now=now, fresh=True)
    metrics.MATTERS_FILED.labels(m.kind).inc()
    return m


def can_see(principal: Principal, m: Matter) -> bool:
    if principal.tenant != ALL_TENANTS and principal.tenant not in m.tenant_path.split("/"):
        return False
    return not (principal.is_enterprise and (principal.unit is None or m.owner_unit_id != principal.unit))


async def get(session: AsyncSession, *, principal: Principal, key: str, lock: bool = False) -> Matter:
    """By id or number; outside the caller's scope it looks missing (existence is not leaked)."""
    try:
        where: Any = Matter.id == uuid.UUID(key)
    except ValueError:
        where = Matter.number == key
    stmt = select(Matter).where(where)
    if lock:
        stmt = stmt.with_for_update()
    return _visible(principal, (await session.exec(stmt)).first())


_BY_ID = Load(Matter, Matter.id == sa.bindparam("id"))
_BY_NUMBER = Load(Matter, Matter.number == sa.bindparam("key"))


async def read(db: Database, *, principal: Principal, key: str) -> Matter:
    """:func:`get` for a view that reads nothing else: straight through the driver, no session."""
    m = await by_id_or_key(db, key, by_id=_BY_ID, by_key=_BY_NUMBER)
    return _visible(principal, m)


def _visible(principal: Principal, m: Matter | None) -> Matter:
    if m is None or not can_see(principal, m):
        raise NotFound("matter not found")
    ensure_visible(principal, m.tenant_path.split("/"), what="matter")
    return m


async def list_matters(
    session: AsyncSession,
    *,
    principal: Principal,
    f: MatterFilter,
    base_path: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Matter], str | None]:
    """Newest first; keyset pagination on (filed_at, id). ``base_path`` = subtree root (None: all).
    The filters are ``listing.filtered``'s; the REST list reads its page with ``listing.list_page``."""
    stmt = listing.filtered(select(Matter), principal=principal, f=f, base_path=base_path)
    return await keyset_page(session, stmt, order=listing.ORDER, cursor=cursor, limit=limit)


async def history(session: AsyncSession, *, matter: Matter) -> list[MatterHistory]:
    stmt = (
        select(MatterHistory)
        .where(MatterHistory.matter_id == matter.id)
        .order_by(col(MatterHistory.at), col(MatterHistory.id))
    )
    return list((await session.exec(stmt)).all())


# Category names of the default taxonomy, used when the caller has no tenant taxonomy at hand.
DEFAULT_CATEGORY_ZH = {code: name_zh for code, name_zh, *_ in DEFAULT_TAXONOMY}


def to_out(m: Matter, rules_taxonomy: dict[str, str] | None = None) -> MatterOut:
    return MatterOut(
        id=m.id,
        number=m.number,
        tenant=m.tenant_code,
        handling_tenant=m.handling_tenant,
        kind=Kind(m.kind),
        status=Status(m.status),
        tier=Tier(m.tier),
        category=m.category,
        category_zh=(rules_taxonomy or DEFAULT_CATEGORY_ZH).get(m.category or ""),
        sub_item=m.sub_item,
        title=m.title,
        description=m.description,
        project_id=m.project_id,
        project_code=m.project_code,
        project_name=m.project_name,
        reporter=m.reporter,
        responsible_unit_id=m.responsible_unit_id,
        responsible_unit_name=m.responsible_unit_name,
        responsible_person=m.responsible_person,
        difficult=m.difficult,
        filed_at=m.filed_at,
        sla_days=m.sla_days,
        due_at=m.due_at.astimezone(DEFAULT_TZ),
        due_date=dl.due_date(m.due_at),
        answer_due_at=m.answer_due_at,
        answered_at=m.answered_at,
        paused=m.paused_at is not None,
        paused_working_days=m.paused_working_days,
        overdue=m.overdue,
        ever_overdue=m.ever_overdue,
        escalations=m.escalations,
        on_meeting_agenda=m.meeting_topic_at is not None,
        accepted_at=m.accepted_at,
        resolved_at=m.resolved_at,
        closed_at=m.closed_at,
        resolution=m.resolution,
        rating=m.rating,
        rating_label=RATING_LABELS.get(m.rating or 0),
        details=m.details,
        attachments=[Attachment.model_validate(a) for a in m.attachments],
        row_version=m.row_version,
    )
