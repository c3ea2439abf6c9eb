"""The spreadsheet import's vocabulary: accepted column headers, cell values, and the template.

docs/registry-import.md lists the same; keep them together.
"""

from __future__ import annotations

import io

from steward.registry.projects.stages import NAMES_ZH

# field → accepted headers (compared without spaces, '*' marks and a trailing unit in brackets)
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("项目名称", "名称", "项目", "name"),
    "tenant": (
        "所属地区",
        "地区",
        "所属区县",
        "区县",
        "所属区域",
        "行政区划",
        "行政区划代码",
        "区划代码",
        "地区代码",
        "所属租户",
        "tenant",
    ),
    "total_investment": ("总投资", "总投资额", "计划总投资", "项目总投资", "投资总额", "total_investment"),
    "annual_plan_investment": (
        "年度计划投资",
        "年度计划",
        "本年计划投资",
        "年度投资计划",
        "annual_plan_investment",
    ),
    "national_code": (
        "全国投资项目代码",
        "投资项目代码",
        "国家项目代码",
        "项目代码",
        "统一项目代码",
        "national_code",
    ),
    "funding_type": ("资金来源", "投资类型", "资金类型", "投资主体", "funding_type"),
    "industry": ("行业", "所属行业", "行业类别", "行业分类", "产业", "industry"),
    "key_level": ("重点级别", "项目级别", "重点项目级别", "重点项目", "key_level"),
    "major": ("重大项目", "是否重大项目", "major"),
    "stage": ("项目阶段", "阶段", "当前阶段", "项目状态", "建设阶段", "stage"),
    "address": ("建设地点", "项目地址", "建设地址", "地址", "address"),
    "lat": ("纬度", "lat", "latitude"),
    "lon": ("经度", "lon", "lng", "longitude"),
    "planned_start": (
        "计划开工",
        "计划开工时间",
        "计划开工日期",
        "开工时间",
        "开工日期",
        "planned_start",
    ),
    "planned_completion": (
        "计划竣工",
        "计划竣工时间",
        "计划竣工日期",
        "计划完工",
        "计划完工时间",
        "竣工时间",
        "竣工日期",
        "planned_completion",
    ),
    "owner_unit_id": ("业主单位id", "owner_unit_id"),
}
TEMPLATE_HEADERS = (
    "项目名称",
    "所属地区",
    "总投资（万元）",
    "年度计划投资（万元）",
    "全国投资项目代码",
    "资金来源",
    "行业",
    "重点级别",
    "重大项目",
    "项目阶段",
    "建设地点",
    "经度",
    "纬度",
    "计划开工",
    "计划竣工",
)
FUNDING = {
    "企业投资": "enterprise",
    "企业": "enterprise",
    "社会投资": "enterprise",
    "政府投资": "government",
    "政府": "government",
    "ppp": "ppp",
    "政府和社会资本合作": "ppp",
}
KEY_LEVELS = {
    "国家级": "national",
    "国家": "national",
    "国家重点": "national",
    "省级": "provincial",
    "省": "provincial",
    "省重点": "provincial",
    "市级": "city",
    "市": "city",
    "市重点": "city",
    "区级": "district",
    "县级": "district",
    "区县级": "district",
    "区": "district",
    "县": "district",
    "区重点": "district",
    "无": "none",
    "否": "none",
    "非重点": "none",
}
STAGES = {zh: s.value for s, zh in NAMES_ZH.items()} | {
    "洽谈": "negotiating",
    "在谈": "negotiating",
    "已签约": "signed",
    "前期手续": "preparing",
    "在建": "continuing",
    "已竣工": "completed",
}
YES = {"是", "y", "yes", "true", "1", "√", "✓", "重大"}
NO = {"否", "n", "no", "false", "0", ""}
UNITS = {"万元": "万", "万": "万", "亿元": "亿", "亿": "亿", "元": ""}
TOTALS = {"合计", "总计", "小计", "总合计"}


def template() -> bytes:
    """The accepted headers on the first sheet (filled in below them); a second sheet explains
    each column with an example."""
    from openpyxl import Workbook  # imported here: several MB of every replica's memory otherwise

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "项目"
    ws.append(list(TEMPLATE_HEADERS))
    for column in ws.columns:
        ws.column_dimensions[column[0].column_letter].width = 16
    notes = wb.create_sheet("说明")
    notes.append(["列", "字段", "示例", "说明"])
    for row in TEMPLATE_NOTES:
        notes.append(list(row))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


TEMPLATE_NOTES = (
    ("项目名称", "name", "智能制造产业园二期", "必填，200字以内"),
    (
        "所属地区",
        "tenant",
        "210112 或 浑南区",
        "区划代码或本辖区内的地区名称；无此列时为 ?tenant= 或登录账号所属地区",
    ),
    (
        "总投资（万元）",
        "total_investment",
        "5000 / 1.2亿",
        "必填；列名带（万元）/（亿元）时数字按该单位；也可写 5000万、1.2亿",
    ),
    ("年度计划投资（万元）", "annual_plan_investment", "1200", "同上，可空"),
    ("全国投资项目代码", "national_code", "2501-210112-04-01-123456", "可空；不可与已登记项目重复"),
    ("资金来源", "funding_type", "企业投资", "企业投资 / 政府投资 / PPP，默认企业投资"),
    ("行业", "industry", "先进制造", "可空"),
    ("重点级别", "key_level", "区级", "国家级 / 省级 / 市级 / 区级 / 无"),
    ("重大项目", "major", "否", "是 / 否"),
    ("项目阶段", "stage", "签约", "招商洽谈 / 签约 / 前期 / 新开工 / 续建 / 竣工 / 投产，默认招商洽谈"),
    ("建设地点", "location.address", "浑南区创新路1号", "与经度、纬度一起保存"),
    ("经度", "location.lon", "123.4567", ""),
    ("纬度", "location.lat", "41.7321", ""),
    ("计划开工", "planned_start", "2026-03-01", "日期，或 2026年3月"),
    ("计划竣工", "planned_completion", "2027-12-31", "不早于计划开工"),
)
