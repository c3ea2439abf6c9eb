"""Facts and dry runs through the rules engine: a fact no service publishes is scored exactly like
an event (idempotent on its id); a preview shows what the tenant's rules would record."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.envelope import CloudEvent
from steward.kit.auth import Principal
from steward.rules import RulesDocument
from steward.scoring.access import FACT_SOURCES
from steward.scoring.ledger.models import ScoreEntry
from steward.scoring.rules.engine import attributes, score_event, subject_of
from steward.scoring.rules.schemas import FactIn, PreviewIn, PreviewItem, PreviewOut
from steward.scoring.settings import SOURCE


def fact_event(principal: Principal, data: FactIn | PreviewIn, at: datetime) -> CloudEvent:
    fact_id = data.id if isinstance(data, FactIn) else "preview"
    return CloudEvent(
        id=f"fact:{data.tenant}:{fact_id}",
        source=f"{SOURCE}/facts",
        type=f"steward.{data.type}.v1",
        time=at,
        tenant=data.tenant,
        actor=principal.subject,
        data=data.data,
    )


async def record_fact(
    session: AsyncSession,
    *,
    principal: Principal,
    data: FactIn,
    rules: RulesDocument,
    path: str,
    now: datetime,
) -> list[ScoreEntry]:
    principal.require(*FACT_SOURCES)
    event = fact_event(principal, data, data.occurred_at)
    return await score_event(session, event=event, rules=rules, path=path, now=now)


def preview(
    *, principal: Principal, data: PreviewIn, rules: RulesDocument, path: str, now: datetime
) -> PreviewOut:
    event = fact_event(principal, data, now)
    attrs = attributes(event)
    codes = path.split("/")
    district = codes[1] if len(codes) > 1 else codes[0]
    items = [
        PreviewItem(
            scorecard=card.key,
            rule=rule.key,
            dimension=rule.dimension,
            points=rule.points,
            subject=(who[0] if (who := subject_of(rule, event, None, district)) else None),
            reason_zh=rule.reason_zh,
        )
        for card in rules.scorecards.definitions
        for rule in card.rules_for(event.short_type, attrs)
    ]
    return PreviewOut(attributes=attrs, matches=items)
