"""The circular as a DOCX document (python-docx) and as printable HTML, from its frozen content."""

from __future__ import annotations

import html
import io
from decimal import Decimal

from steward.registry.circulars.schemas import CircularOut, ProjectLine
from steward.registry.reports.export import STAGE_ZH, STATUS_ZH

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
WAN = Decimal(10000)

PROJECT_HEADERS = [
    "项目",
    "地区",
    "阶段",
    "报送",
    "本期完成(万元)",
    "年度累计(万元)",
    "年度计划(万元)",
    "完成比例",
    "进展",
]
TENANT_HEADERS = [
    "地区",
    "应报",
    "按时",
    "迟报",
    "未报",
    "本期完成(万元)",
    "年度累计(万元)",
    "年度计划(万元)",
    "完成比例",
]


def wan(value: Decimal | None) -> str:
    """Yuan shown in 万元 with two places, as circulars print them."""
    return "—" if value is None else f"{(value / WAN).quantize(Decimal('0.01')):,}"


def pct(value: Decimal | None) -> str:
    return "—" if value is None else f"{value}%"


def overview(c: CircularOut) -> str:
    t = c.content.totals
    return (
        f"本期应报送项目{t.required}个，按时报送{t.on_time}个，迟报{t.late}个，未报{t.missing}个。"
        f"本期完成投资{wan(t.investment_period)}万元，年度累计完成投资{wan(t.investment_ytd)}万元，"
        f"占年度计划{wan(t.annual_plan)}万元的{pct(t.plan_percent)}。"
    )


def _named(lines: list[ProjectLine]) -> str:
    return "；".join(f"{x.tenant_name}“{x.name}”（{x.code}）" for x in lines)


def criticism(c: CircularOut) -> list[str]:
    out = []
    if c.content.late:
        out.append(f"以下项目未按时报送进展情况，予以通报批评：{_named(c.content.late)}。")
    if c.content.missing:
        out.append(f"以下项目未报送进展情况，予以通报批评：{_named(c.content.missing)}。")
    if not out:
        out.append("本期各项目均按时报送。")
    return out


def _project_cells(x: ProjectLine) -> list[str]:
    return [
        f"{x.name}（{x.code}）",
        x.tenant_name,
        STAGE_ZH.get(x.stage, x.stage),
        STATUS_ZH.get(x.status, x.status),
        wan(x.investment_period),
        wan(x.investment_ytd),
        wan(x.annual_plan),
        pct(x.plan_percent),
        x.progress,
    ]


def _tenant_cells(c: CircularOut) -> list[list[str]]:
    rows = [*c.content.tenants, c.content.totals]
    cells = [
        [
            t.tenant_name,
            str(t.required),
            str(t.on_time),
            str(t.late),
            str(t.missing),
            wan(t.investment_period),
            wan(t.investment_ytd),
            wan(t.annual_plan),
            pct(t.plan_percent),
        ]
        for t in rows
    ]
    cells[-1][0] = "合计"
    return cells


def subtitle(c: CircularOut) -> str:
    return f"{c.year}年第{c.number}期　　{c.content.tenant_name}　　{c.issued_at.date().isoformat()}"


def to_docx(c: CircularOut) -> bytes:
    # imported here: python-docx and lxml cost ~20 MB of every replica's memory, used by exports only
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    doc = Document()
    style = doc.styles["Normal"]
    style.font.size = Pt(11)  # type: ignore[attr-defined]
    heading = doc.add_heading(c.title, level=0)
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    sub = doc.add_paragraph(subtitle(c))
    sub.alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.add_heading("一、总体情况", level=1)
    doc.add_paragraph(overview(c))
    _table(doc, TENANT_HEADERS, _tenant_cells(c))
    doc.add_heading("二、项目进展", level=1)
    _table(doc, PROJECT_HEADERS, [_project_cells(x) for x in c.content.projects])
    doc.add_heading("三、报送情况通报", level=1)
    for text in criticism(c):
        doc.add_paragraph(text)
    if c.remarks:
        doc.add_heading("四、下步工作", level=1)
        doc.add_paragraph(c.remarks)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def _table(doc: object, headers: list[str], rows: list[list[str]]) -> None:
    table = doc.add_table(rows=1, cols=len(headers))  # type: ignore[attr-defined]
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, headers, strict=True):
        cell.text = text
    for row in rows:
        for cell, text in zip(table.add_row().cells, row, strict=True):
            cell.text = text


_CSS = """
body { font-family: "FangSong", "SimSun", serif; max-width: 60em; margin: 2em auto; }
h1 { text-align: center; color: #b00; } .sub { text-align: center; }
table { border-collapse: collapse; width: 100%; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #333; padding: 0.25em 0.4em; vertical-align: top; }
.late, .missing { color: #b00; }
@media print { body { margin: 0; max-width: none; } h2 { page-break-after: avoid; } tr { page-break-inside: avoid; } }
"""


def _html_table(headers: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        f'<tr class="{html.escape((classes or [""] * len(rows))[i])}">'
        + "".join(f"<td>{html.escape(v)}</td>" for v in row)
        + "</tr>"
        for i, row in enumerate(rows)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html(c: CircularOut) -> str:
    e = html.escape
    parts = [
        f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{e(c.title)}</title>',
        f"<style>{_CSS}</style></head><body>",
        f'<h1>{e(c.title)}</h1><p class="sub">{e(subtitle(c))}</p>',
        f"<h2>一、总体情况</h2><p>{e(overview(c))}</p>",
        _html_table(TENANT_HEADERS, _tenant_cells(c)),
        "<h2>二、项目进展</h2>",
        _html_table(
            PROJECT_HEADERS,
            [_project_cells(x) for x in c.content.projects],
            [x.status for x in c.content.projects],
        ),
        "<h2>三、报送情况通报</h2>",
        *(f"<p>{e(t)}</p>" for t in criticism(c)),
    ]
    if c.remarks:
        parts.append(f"<h2>四、下步工作</h2><p>{e(c.remarks)}</p>")
    parts.append("</body></html>")
    return "".join(parts)
