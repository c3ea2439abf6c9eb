"""gRPC handlers of the reports domain (ListReports, GetReportStatus)."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from steward.api.registry.v1 import registry_pb2 as pb
from steward.kit.auth import Principal
from steward.kit.errors import ValidationFailed
from steward.kit.grpc import timestamp
from steward.registry.reports import service, summary
from steward.registry.reports.models import ProgressReport


def to_pb(r: ProgressReport, code: str) -> pb.Report:
    return pb.Report(
        id=str(r.id),
        project_id=str(r.project_id),
        project_code=code,
        tenant=r.tenant_code,
        schedule_key=r.schedule_key,
        period=r.period_key,
        due_at=timestamp(r.due_at),
        submitted_at=timestamp(r.submitted_at),
        submitted_by=r.submitted_by,
        status="late" if r.late else "on_time",
        delay_seconds=r.delay_seconds,
        investment_period=f"{r.investment_period:.2f}",
        investment_cumulative=f"{r.investment_cumulative:.2f}",
        progress_text=r.progress_text,
        obstacle_ids=list(r.obstacle_ids),
        signed_by=r.signed_by or "",
        paper_signed=r.paper_signed,
    )


async def list_reports(
    session: AsyncSession, principal: Principal, request: pb.ListReportsRequest
) -> pb.ListReportsResponse:
    size = request.page_size or 50
    if not 1 <= size <= 200:
        raise ValidationFailed("page_size must be between 1 and 200")
    rows, nxt = await service.list_reports(
        session,
        principal=principal,
        tenant=request.tenant or None,
        project=request.project or None,
        schedule_key=request.schedule_key or None,
        period=request.period or None,
        limit=size,
        cursor=request.page_token or None,
    )
    return pb.ListReportsResponse(reports=[to_pb(r, p.code) for r, p in rows], next_page_token=nxt or "")


async def get_report_status(
    session: AsyncSession, principal: Principal, request: pb.GetReportStatusRequest
) -> pb.ReportStatusResponse:
    if not request.period:
        raise ValidationFailed("period is required")
    base, rows, fallback = await summary.status_rows(
        session,
        principal=principal,
        tenant=request.tenant or None,
        period=request.period,
        schedule_key=request.schedule_key or None,
    )
    return pb.ReportStatusResponse(
        tenant=base.code,
        period=request.period,
        calendar_fallback=fallback,
        rows=[
            pb.ReportStatusRow(
                project_id=str(r.project_id),
                project_code=r.project_code,
                tenant=r.tenant,
                schedule_key=r.schedule_key,
                period=r.period,
                due_at=timestamp(r.due_at),
                status=r.status,
                delay_seconds=r.delay_seconds,
                report_id=str(r.report_id) if r.report_id else "",
            )
            for r in rows
        ],
    )
