"""Sample events for the preview endpoint (realistic, from the seeds' vocabulary)."""

from __future__ import annotations

from typing import Any

_MATTER = {
    "matter_id": "0195aa00-0000-7000-8000-000000000001",
    "number": "HN-2026-0042",
    "title": "施工许可办理受阻：消防设计审查意见未反馈",
    "kind": "obstacle",
    "category": "审批手续",
    "tier": "district",
    "project_id": "0195aa00-0000-7000-8000-0000000000aa",
    "responsible_unit_id": "0195aa00-0000-7000-8000-0000000000bb",
    "deadline": "2026-03-06T10:00:00Z",
    "reporter": "u-enterprise-210112",
}
SAMPLE_DATA: dict[str, dict[str, Any]] = {
    "matter": _MATTER,
    "project.registered": {
        "project_id": "0195aa00-0000-7000-8000-0000000000aa",
        "code": "210112-2026-00017",
        "name": "浑南智造科技产业园二期",
        "total_investment": "250000000",
        "tier": "city",
    },
    "project.stage_changed": {
        "code": "210112-2026-00017",
        "from_stage": "preparing",
        "to_stage": "new_start",
        "reason": "取得施工许可证",
    },
    "roster.role_missing": {"code": "210112-2026-00017", "missing_roles": ["steward", "lead_unit"]},
}


def sample_event(key: str, tenant: str) -> dict[str, Any]:
    data = SAMPLE_DATA.get(key) or (SAMPLE_DATA["matter"] if key.startswith("matter.") else {})
    aggregate, _, name = key.partition(".")
    return {
        "specversion": "1.0",
        "id": "0195aa00-0000-7000-8000-00000000e001",
        "source": "/steward/sample",
        "type": f"steward.{aggregate}.{name or 'sample'}.v1",
        "time": "2026-03-07T01:00:00Z",
        "tenant": tenant,
        "data": data,
    }


SAMPLE_PROJECT = {
    "id": "0195aa00-0000-7000-8000-0000000000aa",
    "code": "210112-2026-00017",
    "name": "浑南智造科技产业园二期",
    "tier": "city",
}
