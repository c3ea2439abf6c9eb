"""The score of a period as a pure function of its ledger entries (no I/O).

Each dimension starts at its maximum. Entries are applied one by one in event-time order —
``(occurred_at, source, rule)``, never arrival order — and a dimension never goes below 0 (扣完为止)
nor above its maximum, so each entry shows the points it asked for and the points it moved. An entry
cancelled by a correction, and the correction itself, move nothing. The database computes the same
thing set-based (``scoring_clamped_sum``, see :mod:`steward.scoring.ledger.totals`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from steward.rules.scoring import ScorecardDef

UNBOUNDED = Decimal("1e9")


@dataclass(frozen=True)
class EntryLike:
    """What the computation needs of an entry (table rows and test fixtures both fit)."""

    id: uuid.UUID
    dimension: str
    points: Decimal
    occurred_at: datetime
    source: str
    rule: str
    corrects: uuid.UUID | None = None


@dataclass
class Applied:
    entry_id: uuid.UUID
    dimension: str
    asked: Decimal
    applied: Decimal
    value_after: Decimal | None
    note: str


@dataclass
class Score:
    dimensions: dict[str, Decimal]
    total: Decimal
    max_total: Decimal
    applied: list[Applied] = field(default_factory=list)


def order_key(e: EntryLike) -> tuple[datetime, str, str]:
    return (e.occurred_at, e.source, e.rule)


def bounds(card: ScorecardDef, dimension: str) -> tuple[Decimal, Decimal, Decimal]:
    """(start, lowest offset, highest offset) of a dimension, as offsets from its maximum."""
    dim = card.dimension(dimension)
    assert dim is not None
    lo = -dim.max_points if card.floor_at_zero else -UNBOUNDED
    hi = Decimal(0) if card.cap_at_max else UNBOUNDED
    return dim.max_points, lo, hi


def compute(card: ScorecardDef, entries: Iterable[EntryLike]) -> Score:
    rows: Sequence[EntryLike] = sorted(entries, key=order_key)
    corrected = {e.corrects for e in rows if e.corrects is not None}
    values = {d.key: d.max_points for d in card.dimensions}
    applied: list[Applied] = []
    for e in rows:
        if e.corrects is not None:
            applied.append(Applied(e.id, e.dimension, e.points, Decimal(0), None, "更正：冲销原分录"))
            continue
        if e.id in corrected:
            applied.append(Applied(e.id, e.dimension, e.points, Decimal(0), None, "已更正冲销"))
            continue
        if e.dimension not in values:
            applied.append(Applied(e.id, e.dimension, e.points, Decimal(0), None, "维度不在考核表中"))
            continue
        start, lo, hi = bounds(card, e.dimension)
        offset = values[e.dimension] - start
        new = min(hi, max(lo, offset + e.points))
        moved = new - offset
        values[e.dimension] = start + new
        if moved == e.points:
            note = ""
        elif e.points < 0:
            note = "扣完为止（已到0分）"
        else:
            note = "已达满分"
        applied.append(Applied(e.id, e.dimension, e.points, moved, values[e.dimension], note))
    total = sum(values.values(), Decimal(0))
    return Score(dimensions=values, total=total, max_total=card.total_points, applied=applied)
