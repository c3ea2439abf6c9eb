"""Named rule presets from the seeds, as *overrides* (partial documents) for tenants and demo data.

``shenyang`` is the platform default itself; the others are merged onto it (or onto any parent):

* ``fuxin_steward`` — every project ≥2000万 has a 项目管家; 六个一 roster; ledger approved by 营商局.
* ``anyang`` — 五个一 roster; semi-monthly reports on the 12th/25th (earlier on holidays), summary
  on the 13th/26th, paper copy signed by the commander; Saturday weekly meeting, agenda by Tuesday
  17:00; agent scorecard, unit ranking, agent satisfaction survey; HQ on site twice a week.
* ``huiji`` — weekly report Friday 18:00; difficult matters answered in 3 working days; green
  channel one third shorter; one-time notice in 1 working day; leaders visit monthly.
* ``jinniu`` — monthly report by the 25th; 项目专员 from the signing of the land transfer contract for
  key projects.
"""

from __future__ import annotations

import copy
from typing import Any

from steward.rules.document import RulesDocument, default_rules, merge_rules
from steward.rules.roster import ANYANG_FIVE_ONES, FUXIN_SIX_ONES
from steward.rules.scoring_presets import (
    ANYANG_AGENT_SCORECARD,
    ANYANG_AGENT_SURVEY,
    ANYANG_UNIT_RANKING,
    CITY_MONTHLY_DISTRICT_RANKING,
)

__all__ = ["PRESETS", "preset_names", "preset_override", "preset_rules"]


def _roles(roles: Any) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json", exclude_defaults=True) for r in roles]


SHENYANG: dict[str, Any] = {
    "thresholds": {
        "platform_min": "500万",
        "dispatch_tiers": [
            {"tier": "zone", "min_investment": "500万"},
            {"tier": "district", "min_investment": "3000万"},
            {"tier": "city", "min_investment": "1亿"},
        ],
        "government_city_department_min": "3000万",
        "steward_required_min": None,
        "named_responsibility_min": "1亿",
    },
}

FUXIN_STEWARD: dict[str, Any] = {
    "thresholds": {"steward_required_min": "2000万"},
    "roster": {
        "template_name": "阜新县项目管家“六个一”工作机制",
        "roles": _roles(FUXIN_SIX_ONES),
        "principles": [
            "一个项目、一名领导、一个牵头单位、一套服务班子、一个项目秘书、一竿子抓到底",
            "有求必应、无事不扰",
        ],
    },
    "service_log": {
        "rules": [
            {"role": "leader", "min_visits": 1, "per": "month", "description_zh": "领导定期深入项目现场"}
        ],
        "approval_required": True,
        "approver_unit": "营商局",
    },
}

ANYANG: dict[str, Any] = {
    "roster": {
        "template_name": "示范区（安阳县）重点项目“五个一”分包制度",
        "roles": _roles(ANYANG_FIVE_ONES),
        "principles": ["一线工作法：在一线发现、调研、解决问题，推进建设进度"],
    },
    "reports": {
        "schedules": [
            {
                "key": "semi_monthly_progress",
                "name_zh": "重点项目半月通报",
                "kind": "semi_monthly",
                "days": [12, 25],
                "due_time": "17:00",
                "holiday_shift": "earlier",
                "summary_offset_days": 1,
                "paper_signoff_required": True,
                "paper_signoff_role": "commander",
            },
            {
                "key": "agent_weekly",
                "name_zh": "代办员周工作进展",
                "kind": "weekly",
                "weekday": 3,
                "due_time": "17:00",
                "contents": ["progress_text", "problems"],
            },
        ]
    },
    "meetings": {
        "series": [
            {
                "key": "weekly_joint",
                "name_zh": "重大建设项目推进工作周例会",
                "weekday": 5,
                "time": "09:00",
                "chair_role": "chief",
                "organizer_unit": "发改局重点项目办",
                "supervision_unit": "督查室（县督察局）",
                "agenda_deadline": {"weekday": 1, "time": "17:00"},
                "compile_weekday": 4,
            }
        ]
    },
    "scorecards": {
        "definitions": [ANYANG_AGENT_SCORECARD],
        "rankings": [ANYANG_UNIT_RANKING, CITY_MONTHLY_DISTRICT_RANKING],
        "surveys": [ANYANG_AGENT_SURVEY],
    },
    "service_log": {
        "rules": [
            {
                "role": "hq",
                "min_visits": 2,
                "per": "week",
                "description_zh": "指挥长和指挥部成员每周至少两次到一线现场办公",
            },
            {"role": "commander", "min_visits": 2, "per": "week"},
        ]
    },
}

HUIJI: dict[str, Any] = {
    "reports": {
        "schedules": [
            {
                "key": "weekly_progress",
                "name_zh": "重大项目进展报表",
                "kind": "weekly",
                "weekday": 4,
                "due_time": "18:00",
                "holiday_shift": "earlier",
            }
        ]
    },
    "matters": {"difficult_answer_days": 3, "green_channel_factor": "2/3", "materials_notice_days": 1},
    "meetings": {"series": [{"key": "weekly_joint", "name_zh": "重大项目联席会议周例会"}]},
    "service_log": {
        "rules": [
            {
                "role": "responsible_leader",
                "min_visits": 1,
                "per": "month",
                "description_zh": "分包重大项目的区级领导每月不少于一次深入项目单位调研督导",
            }
        ]
    },
}

JINNIU: dict[str, Any] = {
    "roster": {
        "template_name": "金牛区重点项目“项目服务室+服务专员”",
        "roles": [
            {
                "key": "specialist",
                "name_zh": "服务专员",
                "name_en": "Service specialist",
                "applies_when": {
                    "key_levels": ["national", "provincial", "city", "district"],
                    "from_milestone": "land_contract_signed",
                },
                "description_zh": "从签订土地出让合同开始，重点项目实行项目专员负责制",
            },
            {"key": "enterprise_contact", "name_zh": "企业联系人", "name_en": "Enterprise contact"},
        ],
    },
    "reports": {
        "schedules": [
            {
                "key": "monthly_service",
                "name_zh": "重点项目“帮代办”服务印证材料",
                "kind": "monthly",
                "day": 25,
                "due_time": "18:00",
                "holiday_shift": "earlier",
                "contents": ["progress_text", "evidence"],
            }
        ]
    },
}

PRESETS: dict[str, dict[str, Any]] = {
    "shenyang": SHENYANG,
    "fuxin_steward": FUXIN_STEWARD,
    "anyang": ANYANG,
    "huiji": HUIJI,
    "jinniu": JINNIU,
}


def preset_names() -> list[str]:
    return list(PRESETS)


def preset_override(name: str) -> dict[str, Any]:
    """A deep copy of the named preset override (safe to edit)."""
    try:
        return copy.deepcopy(PRESETS[name])
    except KeyError:
        raise KeyError(f"unknown rules preset {name!r}; known: {', '.join(PRESETS)}") from None


def preset_rules(name: str, parent: RulesDocument | None = None) -> RulesDocument:
    """Effective rules of a tenant using preset ``name`` under ``parent`` (default rules)."""
    return merge_rules(parent if parent is not None else default_rules(), preset_override(name))
