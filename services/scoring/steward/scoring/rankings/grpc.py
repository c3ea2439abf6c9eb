"""gRPC handler of GetRanking."""

from __future__ import annotations

from steward.api.scoring.v1 import scoring_pb2 as pb
from steward.kit.auth import Principal
from steward.kit.inputs import clean
from steward.scoring import access
from steward.scoring.context import ScoringContext
from steward.scoring.ledger.grpc import _key
from steward.scoring.periods.keys import kind_of
from steward.scoring.rankings.views import definitions, ranking_out


async def get_ranking(ctx: ScoringContext, principal: Principal, request: pb.GetRankingRequest) -> pb.Ranking:
    clean(tenant=request.tenant, ranking=request.ranking, period=request.period)
    kind_of(request.period)
    code, path = await access.readable(ctx, principal, request.tenant or None)
    definition, card = await definitions(ctx, code, _key(request.ranking, "ranking"))
    async with ctx.db.read() as session:
        out = await ranking_out(
            session, definition=definition, card=card, tenant=code, path=path, period=request.period
        )
    return pb.Ranking(
        tenant=out.tenant,
        ranking=out.ranking,
        name_zh=out.name_zh,
        period=out.period,
        published=out.published,
        rows=[
            pb.RankingRow(
                subject_id=r.subject_id,
                subject_name=r.subject_name or "",
                group=r.group,
                total="" if r.total is None else str(r.total),
                rank=r.rank or 0,
                top=r.top,
                bottom=r.bottom,
                last=r.last,
                exempt=r.exempt,
            )
            for r in out.rows
        ],
        consequences=[
            pb.Consequence(subject_id=c.subject_id, action=c.action, streak=c.streak, reason_zh=c.reason_zh)
            for c in out.consequences
        ],
    )
