"""CSV and XLSX exports of a summary, for the office that prints the 情况通报."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from steward.registry.reports.summary import SummaryOut, TenantSummary

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STATUS_ZH = {"on_time": "按时", "late": "迟报", "missing": "未报", "pending": "未到期"}
STAGE_ZH = {
    "negotiating": "招商洽谈",
    "signed": "签约",
    "preparing": "前期",
    "new_start": "新开工",
    "continuing": "续建",
    "completed": "竣工",
    "operating": "投产",
    "suspended": "停缓建",
    "terminated": "终止",
}

PROJECT_HEADERS = [
    "项目编号",
    "项目名称",
    "地区",
    "阶段",
    "报表",
    "期次",
    "截止时间",
    "状态",
    "迟报秒数",
    "本期完成投资(元)",
    "累计完成投资(元)",
    "年度累计完成(元)",
    "年度计划投资(元)",
    "待签字",
]
TENANT_HEADERS = [
    "地区编码",
    "地区",
    "应报",
    "已报",
    "按时",
    "迟报",
    "未报",
    "未到期",
    "本期完成投资(元)",
    "年度累计完成(元)",
    "年度计划投资(元)",
    "完成比例(%)",
]


FOCUS_HEADERS = [
    "项目编号",
    "项目名称",
    "地区",
    "阶段",
    "类别",
    "计划开工",
    "计划竣工",
    "未办结节点",
    "年度累计完成(元)",
    "年度计划投资(元)",
    "完成比例(%)",
]
CATEGORY_ZH = {
    "open_nodes": "手续未办结",
    "not_started": "应开未开",
    "investment": "投资进度",
    "not_completed": "年内应竣未竣",
    "reserve": "来年储备",
}


def _money(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(Decimal("0.01"))


def project_rows(s: SummaryOut) -> list[list[Any]]:
    return [
        [
            r.project_code,
            r.project_name,
            r.tenant,
            STAGE_ZH.get(r.stage, r.stage),
            r.schedule_key,
            r.period,
            r.due_at.isoformat(),
            STATUS_ZH[r.status],
            r.delay_seconds,
            _money(r.investment_period),
            _money(r.investment_cumulative),
            _money(r.investment_ytd),
            _money(r.annual_plan_investment),
            "是" if r.signoff_missing else "",
        ]
        for r in s.items
    ]


def focus_rows(s: SummaryOut) -> list[list[Any]]:
    return [
        [
            x.code,
            x.name,
            x.tenant,
            STAGE_ZH.get(x.stage, x.stage),
            CATEGORY_ZH.get(x.category, x.category),
            x.planned_start.isoformat() if x.planned_start else None,
            x.planned_completion.isoformat() if x.planned_completion else None,
            "、".join(x.open_nodes),
            _money(x.investment_ytd),
            _money(x.annual_plan),
            x.plan_percent,
        ]
        for x in s.focus.items
    ]


def _tenant_row(t: TenantSummary) -> list[Any]:
    return [
        t.tenant,
        t.tenant_name,
        t.required,
        t.reported,
        t.on_time,
        t.late,
        t.missing,
        t.pending,
        _money(t.investment_period),
        _money(t.investment_ytd),
        _money(t.annual_plan),
        t.plan_percent,
    ]


def tenant_rows(s: SummaryOut) -> list[list[Any]]:
    rows = [_tenant_row(t) for t in s.tenants]
    total = _tenant_row(s.totals)
    total[0], total[1] = "合计", f"{s.totals.tenant_name}（合计）"
    return [*rows, total]


def to_csv(s: SummaryOut, sheet: str) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    if sheet == "tenants":
        w.writerow(TENANT_HEADERS)
        rows = tenant_rows(s)
    else:
        w.writerow(PROJECT_HEADERS)
        rows = project_rows(s)
    for row in rows:
        w.writerow(["" if v is None else str(v) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # BOM: Excel opens UTF-8 Chinese correctly


def to_xlsx(s: SummaryOut) -> bytes:
    # imported here: openpyxl costs several MB of every replica's memory, used by exports only
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "汇总"
    ws.append([f"{s.totals.tenant_name} 重点项目进展情况通报 {s.period}"])
    ws.append(TENANT_HEADERS)
    for row in tenant_rows(s):
        ws.append(row)
    detail = wb.create_sheet("明细")
    detail.append(PROJECT_HEADERS)
    for row in project_rows(s):
        detail.append(row)
    focus = wb.create_sheet("本季重点", 0)  # the quarter's focus first (seed 001 (八))
    focus.append([f"{s.focus.quarter} 本季调度重点：{s.focus.focus_zh}"])
    focus.append(FOCUS_HEADERS)
    for row in focus_rows(s):
        focus.append(row)
    for sheet in (focus, ws, detail):
        for column in sheet.columns:
            letter = column[0].column_letter
            sheet.column_dimensions[letter].width = 16
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
