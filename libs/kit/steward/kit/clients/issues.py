"""Client of the issues service's gRPC API for the other services (meetings files each decision as a
tracked matter and asks for their status at the next meeting): a deadline on every call, UNAVAILABLE
retried with backoff (channel policy), the service's own token unless the caller passes one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import grpc

from steward.api.issues.v1 import issues_pb2 as pb
from steward.api.issues.v1 import issues_pb2_grpc as pb_grpc
from steward.kit.clients.calling import GrpcClient, TokenSource
from steward.kit.errors import Conflict, DomainError, Forbidden, NotFound, Unauthenticated, ValidationFailed
from steward.kit.grpc import timestamp
from steward.kit.settings import ServiceSettings

_ERRORS: dict[grpc.StatusCode, type[DomainError]] = {
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.INVALID_ARGUMENT: ValidationFailed,
    grpc.StatusCode.PERMISSION_DENIED: Forbidden,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.ALREADY_EXISTS: Conflict,
}
STATUS_REPORT_BATCH = 500  # the issues service answers at most 500 ids per call


class IssuesUnavailable(DomainError):
    status_code = 503
    grpc_code = grpc.StatusCode.UNAVAILABLE
    code = "issues_unavailable"


@dataclass(frozen=True)
class DecisionMatter:
    """What a meeting decision becomes in the issues service."""

    tenant: str
    meeting_id: str
    decision_id: str
    title: str
    description: str = ""
    responsible_unit_id: str | None = None
    responsible_unit_name: str | None = None
    responsible_person: str | None = None
    due_date: date | None = None
    project_id: str | None = None
    reporter: str | None = None

    @property
    def idempotency_key(self) -> str:
        return f"decision:{self.decision_id}"


class IssuesClient(GrpcClient):
    stub = pb_grpc.IssuesServiceStub
    errors = _ERRORS
    unavailable = IssuesUnavailable
    service = "issues"

    def __init__(
        self,
        settings: ServiceSettings,
        target: str,
        *,
        token: TokenSource | None = None,
        timeout: float | None = None,
    ) -> None:
        super().__init__(
            settings,
            target,
            token=token,
            timeout=timeout if timeout is not None else settings.grpc_call_timeout_seconds,
        )

    async def create_decision(self, d: DecisionMatter, *, token: str | None = None) -> pb.Matter:
        """File a meeting decision as a ``decision`` matter; idempotent on ``decision:<id>``: a retry
        (after a timeout, a crash, a redelivery) returns the matter created the first time."""
        request = pb.CreateMatterRequest(
            kind="decision",
            tenant=d.tenant,
            title=d.title[:200],
            description=d.description,
            responsible_unit_id=d.responsible_unit_id or "",
            responsible_unit_name=d.responsible_unit_name or "",
            responsible_person=d.responsible_person or "",
            due_date=d.due_date.isoformat() if d.due_date else "",
            idempotency_key=d.idempotency_key,
            meeting_id=d.meeting_id,
            decision_id=d.decision_id,
            project_id=d.project_id or "",
            reporter=d.reporter or "",
        )
        result = await self._call("CreateMatter", request, token)
        assert isinstance(result, pb.Matter)
        return result

    async def matter(self, id_or_number: str, *, token: str | None = None) -> pb.Matter:
        result = await self._call("GetMatter", pb.GetMatterRequest(id_or_number=id_or_number), token)
        assert isinstance(result, pb.Matter)
        return result

    async def status_report(self, ids: Sequence[str], *, token: str | None = None) -> list[pb.MatterStatus]:
        """Status of each matter, in the order asked (batches of 500; unknown ones ``found=False``)."""
        out: list[pb.MatterStatus] = []
        wanted = list(ids)
        for start in range(0, len(wanted), STATUS_REPORT_BATCH):
            batch = wanted[start : start + STATUS_REPORT_BATCH]
            result = await self._call("MatterStatusReport", pb.MatterStatusReportRequest(ids=batch), token)
            assert isinstance(result, pb.MatterStatusReportResponse)
            out.extend(result.items)
        return out

    async def matters_of_person(
        self,
        *,
        since: datetime,
        until: datetime,
        subject: str | None = None,
        names: Sequence[str] = (),
        tenant: str | None = None,
        limit: int = 100,
        token: str | None = None,
    ) -> pb.MattersOfPersonResponse:
        """Matters the person filed (``subject``) or is responsible for (``names``), active in
        ``[since, until)`` (the agents' weekly work report), oldest filed first."""
        request = pb.MattersOfPersonRequest(
            tenant=tenant or "",
            subject=subject or "",
            names=list(names),
            since=timestamp(since),
            until=timestamp(until),
            limit=limit,
        )
        result = await self._call("MattersOfPerson", request, token)
        assert isinstance(result, pb.MattersOfPersonResponse)
        return result
