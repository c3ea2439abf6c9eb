"""gRPC handlers of scores (GetScore), rankings (GetRanking) and lights (GetLight)."""

from __future__ import annotations

import re
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from steward.api.scoring.v1 import scoring_pb2 as pb
from steward.kit.auth import Principal
from steward.kit.errors import ValidationFailed
from steward.kit.inputs import clean
from steward.scoring import access
from steward.scoring.context import ScoringContext
from steward.scoring.ledger import scores
from steward.scoring.periods.keys import ensure_kind, kind_of


def ts(value: datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(value)
    return t


def _key(value: str, field: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", value):
        raise ValidationFailed(f"{field}: not a key", code="invalid_key")
    return value


async def get_score(ctx: ScoringContext, principal: Principal, request: pb.GetScoreRequest) -> pb.Score:
    clean(
        tenant=request.tenant,
        scorecard=request.scorecard,
        period=request.period,
        subject_id=request.subject_id,
    )
    if not request.subject_id or len(request.subject_id) > 64:
        raise ValidationFailed("subject_id is required", code="invalid_subject")
    kind_of(request.period)
    code, path = await access.readable(ctx, principal, request.tenant or None)
    card = await access.scorecard(ctx, code, _key(request.scorecard, "scorecard"))
    ensure_kind(request.period, card.period)
    async with ctx.db.read() as session:
        s = await scores.score_of(
            session, card=card, tenant=code, path=path, period=request.period, subject_id=request.subject_id
        )
    return pb.Score(
        tenant=s.tenant,
        scorecard=s.scorecard,
        period=s.period,
        subject_id=s.subject_id,
        total=str(s.total),
        max_total=str(s.max_total),
        closed=s.closed,
        rules_version=s.rules_version or "",
        dimensions=[
            pb.Dimension(key=d.key, name_zh=d.name_zh, max_points=str(d.max_points), value=str(d.value))
            for d in s.dimensions
        ],
        entries=[
            pb.Entry(
                id=str(e.id),
                dimension=e.dimension,
                points=str(e.points),
                applied="" if e.applied is None else str(e.applied),
                rule=e.rule,
                reason_zh=e.reason_zh,
                source=e.source,
                occurred_at=ts(e.occurred_at),
                note=e.note,
                corrects=str(e.corrects or ""),
            )
            for e in s.entries
        ],
    )
