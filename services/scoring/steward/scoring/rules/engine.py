"""Event → ledger entries: the tenant's scorecard rules (event-type glob + conditions) applied to
one event. Attributes are read from the event body the same way for every service's events; the
subject of a rule (assignee, responsible agent, unit, district) is found in the event, or in what
earlier events said about the same matter."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.envelope import CloudEvent
from steward.kit import writes
from steward.rules import RulesDocument
from steward.rules.scoring import ScoreRule
from steward.scoring.ledger.models import ScoreEntry
from steward.scoring.ledger.service import append_many, queue
from steward.scoring.periods.keys import period_key
from steward.scoring.rules.models import MatterPeople

# matter.rated: 5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意 → the 4-level 现场打分 scale
_RATED = {5: "very_satisfied", 4: "satisfied", 3: "fairly_satisfied", 2: "dissatisfied", 1: "dissatisfied"}
# survey levels (5) → the 4-level scale of the scorecard's 民主评议 rules
_SURVEY = {
    "very_satisfied": "very_satisfied",
    "satisfied": "satisfied",
    "neutral": "fairly_satisfied",
    "dissatisfied": "dissatisfied",
    "very_dissatisfied": "dissatisfied",
}
_ATTRS = ("procedure_level", "difficulty", "agent_level", "kind", "tier", "category", "overdue")


def attributes(event: CloudEvent) -> dict[str, Any]:
    data = event.data
    attrs: dict[str, Any] = {k: data[k] for k in _ATTRS if k in data}
    level = data.get("key_level", data.get("level"))
    if level is not None:
        attrs["key_level"] = level
    rating = data.get("rating", data.get("overall"))
    if isinstance(rating, int) and not isinstance(rating, bool):
        attrs["rating"] = _RATED.get(rating)
    elif isinstance(rating, str):
        attrs["rating"] = _SURVEY.get(rating, rating)
    if event.short_type.startswith("procedure.") and "kind" not in attrs:
        attrs["kind"] = "procedure"
    return attrs


def _first(data: dict[str, Any], *keys: str) -> str | None:
    for k in keys:
        value = data.get(k)
        if isinstance(value, str) and value:
            return value
    return None


def subject_of(
    rule: ScoreRule, event: CloudEvent, people: MatterPeople | None, district: str
) -> tuple[str, str | None] | None:
    data = event.data
    if rule.subject == "district":
        return district, None
    if rule.subject == "unit":
        unit = _first(data, "unit_id", "responsible_unit_id", "owner_unit_id") or (
            people.unit_id if people else None
        )
        return (unit, _first(data, "unit_name", "responsible_unit_name")) if unit else None
    if rule.subject == "responsible_agent":
        if "delay_attributed_to" in data:  # procedure.completed names whom a delay is attributed to
            agent = _first(data, "delay_attributed_to")
        else:
            agent = _first(data, "level2_agent") or (people.level2_agent if people else None)
        return (agent, None) if agent else None
    agent = _first(data, "agent", "subject_id", "level1_agent", "responsible_person", "person") or (
        people.person if people else None
    )
    return (agent, _first(data, "agent_name", "subject_name")) if agent else None


def people_named(event: CloudEvent) -> dict[str, str | None] | None:
    """Who handles a matter, as far as the event says (``None``: it names nobody, or no matter)."""
    data = event.data
    matter_id = _first(data, "matter_id")
    if matter_id is None or len(matter_id) > 64:
        return None
    person = (_first(data, "responsible_person", "level1_agent") or "")[:200] or None
    level2 = (_first(data, "level2_agent") or "")[:200] or None
    unit = (_first(data, "responsible_unit_id") or "")[:64] or None
    if not (person or level2 or unit):
        return None
    return {"matter_id": matter_id, "person": person, "level2_agent": level2, "unit_id": unit}


async def remember_people(session: AsyncSession, event: CloudEvent) -> MatterPeople | None:
    """Keep who handles a matter (one upsert when the event names someone); what is known about it."""
    named = people_named(event)
    if named is None:
        return None
    stmt = insert(MatterPeople).values(**named)
    stmt = stmt.on_conflict_do_update(
        index_elements=["matter_id"],
        set_={
            "person": _coalesce(stmt.excluded.person, MatterPeople.person),  # type: ignore[arg-type]
            "level2_agent": _coalesce(stmt.excluded.level2_agent, MatterPeople.level2_agent),  # type: ignore[arg-type]
            "unit_id": _coalesce(stmt.excluded.unit_id, MatterPeople.unit_id),  # type: ignore[arg-type]
        },
    )
    row = (await session.execute(stmt.returning(MatterPeople))).first()  # type: ignore[arg-type]
    return row[0] if row is not None else None


async def known_people(session: AsyncSession, event: CloudEvent) -> MatterPeople | None:
    matter_id = _first(event.data, "matter_id")
    if matter_id is None or len(matter_id) > 64:
        return None
    return (await session.exec(select(MatterPeople).where(MatterPeople.matter_id == matter_id))).first()


def _coalesce(new: Any, old: Any) -> Any:
    return sa.func.coalesce(new, old)


def _entry(
    event: CloudEvent,
    card: Any,
    rule: ScoreRule,
    who: tuple[str, str | None],
    *,
    attrs: dict[str, Any],
    path: str,
    at: datetime,
    now: datetime,
    actor: str | None,
) -> ScoreEntry:
    return ScoreEntry(
        tenant=event.tenant,
        tenant_path=path,
        scorecard=card.key,
        period=period_key(card.period, at),
        subject_kind=card.subject_kind,
        subject_id=who[0][:64],
        subject_name=who[1][:200] if who[1] else None,
        dimension=rule.dimension,
        points=Decimal(rule.points),
        rule=rule.key,
        source=event.id[:80],
        source_type=event.short_type[:80],
        reason_zh=rule.reason_zh,
        occurred_at=at,
        recorded_at=now,
        actor=actor or event.actor,
        attributes={k: v for k, v in attrs.items() if v is not None},
    )


def scored_by(short_type: str, rules: RulesDocument) -> bool:
    """Some rule of the tenant's scorecards names this event type (its entries may be non-empty)."""
    return any(fnmatchcase(short_type, r.event_type) for c in rules.scorecards.definitions for r in c.rules)


async def entries_for(
    session: AsyncSession,
    *,
    event: CloudEvent,
    rules: RulesDocument,
    path: str,
    now: datetime,
    occurred_at: datetime | None = None,
    actor: str | None = None,
) -> list[ScoreEntry]:
    """The entries the event asks for under the tenant's scorecards (nothing written but what the
    event teaches about the matter's people)."""
    short = event.short_type
    cards = rules.scorecards.definitions
    people = await remember_people(session, event)
    if not scored_by(short, rules):
        return []
    attrs = attributes(event)
    codes = path.split("/")
    district = codes[1] if len(codes) > 1 else codes[0]
    at = occurred_at or event.time
    out: list[ScoreEntry] = []
    for card in cards:
        for rule, who in await _subjects(session, event, card.rules_for(short, attrs), people, district):
            out.append(_entry(event, card, rule, who, attrs=attrs, path=path, at=at, now=now, actor=actor))
    return out


async def score_events(
    session: AsyncSession, *, events: list[CloudEvent], rules: RulesDocument, path: str, now: datetime
) -> list[ScoreEntry]:
    """Many events of one tenant in one transaction (backfills, replays of history, benchmarks): the
    entries go in with one multi-row insert; repeats produce nothing, exactly as one by one."""
    entries: list[ScoreEntry] = []
    for event in events:
        entries += await entries_for(session, event=event, rules=rules, path=path, now=now)
    return await append_many(session, entries=entries)


async def score_event(
    session: AsyncSession,
    *,
    event: CloudEvent,
    rules: RulesDocument,
    path: str,
    now: datetime,
    occurred_at: datetime | None = None,
    actor: str | None = None,
) -> list[ScoreEntry]:
    """Entries the event produces under the tenant's scorecards; repeats produce nothing. The
    entries and their events go as one statement (``steward.kit.writes``, conditional parts)."""
    entries = await entries_for(
        session, event=event, rules=rules, path=path, now=now, occurred_at=occurred_at, actor=actor
    )
    if writes.current(session) is not None:
        raise RuntimeError("score_event sends its own batch: in a caller's batch, use queue_entries")
    if not entries:
        return []
    async with writes.batched(session) as batch:
        queued = await queue_entries(session, batch, entries)
    return [entry for entry, key in queued if batch.wrote(key)]


async def queue_entries(
    session: AsyncSession, batch: writes.WriteBatch, entries: list[ScoreEntry]
) -> list[tuple[ScoreEntry, Any]]:
    """:func:`score_event`'s writes in a ``writes.batched`` block: each entry with its event if new;
    after the block, ``batch.wrote(key)`` of each pair says which entries were written."""
    return [(entry, await queue(session, batch, entry=entry)) for entry in entries]


async def _subjects(
    session: AsyncSession,
    event: CloudEvent,
    rules: list[ScoreRule],
    people: MatterPeople | None,
    district: str,
) -> list[tuple[ScoreRule, tuple[str, str | None]]]:
    """Each matching rule with each subject it scores (several for ``subjects_from`` lists)."""
    out: list[tuple[ScoreRule, tuple[str, str | None]]] = []
    looked = people is not None
    for rule in rules:
        if rule.subjects_from:
            listed = event.data.get(rule.subjects_from)
            if isinstance(listed, list):
                out += [(rule, (s[:64], None)) for s in dict.fromkeys(listed) if isinstance(s, str) and s]
            continue
        who = subject_of(rule, event, people, district)
        if who is None and not looked:  # the event names nobody: ask what earlier events said
            people, looked = await known_people(session, event), True
            who = subject_of(rule, event, people, district)
        if who is not None:
            out.append((rule, who))
    return out
