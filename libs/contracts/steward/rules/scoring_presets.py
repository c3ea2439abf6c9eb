"""Scorecards, rankings and surveys from the seeds (Anyang 代办员考核办法 / 满意度测评表; Shenyang
monthly public ranking). Plain data (dicts) so presets stay overrides a tenant can copy and edit."""

from __future__ import annotations

from typing import Any

__all__ = [
    "ANYANG_AGENT_SCORECARD",
    "ANYANG_AGENT_SURVEY",
    "ANYANG_UNIT_RANKING",
    "CITY_MONTHLY_DISTRICT_RANKING",
]


def _rule(key: str, event: str, dim: str, points: str, reason: str, **cond: Any) -> dict[str, Any]:
    subject = cond.pop("subject", "assignee")
    subjects_from = cond.pop("subjects_from", None)
    rule = {
        "key": key,
        "event_type": event,
        "dimension": dim,
        "points": points,
        "condition": cond,
        "subject": subject,
        "reason_zh": reason,
    }
    if subjects_from:
        rule["subjects_from"] = subjects_from
    return rule


_RATINGS = (
    ("very_satisfied", "1", "非常满意加1分"),
    ("satisfied", "0", "满意不扣分"),
    ("fairly_satisfied", "-1", "比较满意扣1分"),
    ("dissatisfied", "-1.5", "不满意扣1.5分"),
)

# 示范区（安阳县）行政审批服务代办员考核办法: 100 points in six dimensions, 扣完为止, quarterly.
ANYANG_AGENT_SCORECARD: dict[str, Any] = {
    "key": "agent",
    "name_zh": "行政审批服务代办员考核",
    "subject_kind": "agent",
    "period": "quarter",
    "floor_at_zero": True,
    "cap_at_max": True,
    "dimensions": [
        {"key": "politics", "name_zh": "思想政治素质", "name_en": "Political quality", "max_points": "10"},
        {"key": "performance", "name_zh": "工作业绩", "name_en": "Performance", "max_points": "30"},
        {"key": "discipline", "name_zh": "工作纪律", "name_en": "Discipline", "max_points": "20"},
        {"key": "democratic", "name_zh": "民主评议", "name_en": "Democratic evaluation", "max_points": "20"},
        {"key": "integrity", "name_zh": "廉政建设", "name_en": "Integrity", "max_points": "10"},
        {"key": "overall", "name_zh": "综合评价", "name_en": "Overall evaluation", "max_points": "10"},
    ],
    "rules": [
        # 工作业绩 — procedures of provincial / city key projects not completed in the period
        _rule(
            "prov_hard_incomplete",
            "procedure.incomplete_at_period_end",
            "performance",
            "-0.5",
            "省重点项目行政审批手续难度大的，未完成一项扣0.5分",
            key_level="provincial",
            difficulty="hard",
        ),
        _rule(
            "prov_easy_incomplete",
            "procedure.incomplete_at_period_end",
            "performance",
            "-1",
            "省重点项目行政审批手续难度小的，未完成一项扣1分",
            key_level="provincial",
            difficulty="easy",
        ),
        _rule(
            "city_hard_incomplete",
            "procedure.incomplete_at_period_end",
            "performance",
            "-0.3",
            "市重点项目行政审批手续难度大的，未完成一项扣0.3分",
            key_level="city",
            difficulty="hard",
        ),
        _rule(
            "city_easy_incomplete",
            "procedure.incomplete_at_period_end",
            "performance",
            "-0.5",
            "市重点项目行政审批手续难度小的，未完成一项扣0.5分",
            key_level="city",
            difficulty="easy",
        ),
        _rule(
            "enterprise_dissatisfied",
            "matter.rated",
            "performance",
            "-1",
            "服务企业对办理结果不满意的，每次扣1分",
            kind="procedure",
            rating="dissatisfied",
        ),
        _rule(
            "level2_delay",
            "procedure.completed",
            "performance",
            "-1",
            "由于职能部门代办人员的原因造成延期办理的，每次扣二级代办员1分",
            overdue=True,
            subject="responsible_agent",
        ),
        _rule(
            "helped_colleague",
            "procedure.assisted_completed",
            "performance",
            "0.2",
            "协助其他同志办理原单位行政审批事项，顺利办结的加0.2分",
        ),
        _rule(
            "task_overdue",
            "matter.overdue",
            "performance",
            "-1",
            "对交办的工作未在规定时限内完成，每次扣1分",
            kind="decision",
        ),
        # 思想政治素质
        _rule(
            "one_time_notice_missed",
            "procedure.notice_late",
            "politics",
            "-1",
            "未遵守首问首接和一次性告知制，经查证属实的，每次扣1分",
            subject="responsible_agent",
        ),
        # 工作纪律
        _rule("late_or_early", "attendance.late", "discipline", "-0.2", "无故迟到、早退，每次扣0.2分"),
        _rule("absent_half_day", "attendance.absent", "discipline", "-1", "无故旷工（按半天记）每次扣1分"),
        # 代办员制度 七、责任追究 (7): 未按时参加或缺席联席会议 — the seed sets no number; scored like
        # an absence (旷工) here, every absent person of the meeting.held event
        _rule(
            "meeting_absent",
            "meeting.held",
            "discipline",
            "-1",
            "未按时参加或缺席联席会议，每次扣1分（比照旷工）",
            subjects_from="absent_subjects",
        ),
        _rule(
            "unauthorised_leave",
            "attendance.unauthorised_leave",
            "discipline",
            "-2",
            "上班期间私自外出，不按规定请销假的，每次扣2分",
        ),
        # 廉政建设
        _rule(
            "favouritism",
            "integrity.favouritism",
            "integrity",
            "-2",
            "办理审批手续过程中徇私舞弊的，每次扣2分",
        ),
        _rule("bribe", "integrity.bribe", "integrity", "-10", "接受或者向企业人员索要财物的，每次扣10分"),
        _rule(
            "environment_violation",
            "integrity.environment_violation",
            "integrity",
            "-5",
            "违反优化经济环境有关规定，被反映或举报查证属实的，每次扣5分",
        ),
        # 综合评价
        _rule(
            "decision_not_executed",
            "leadership.decision_not_executed",
            "overall",
            "-2",
            "领导决定事项，未严格执行的，每次扣2分",
        ),
        # 民主评议 — on-site rating after completion and quarterly enterprise evaluation
        *[
            _rule(
                f"onsite_{rating}",
                "survey.answered",
                "democratic",
                pts,
                f"现场打分：{text}",
                rating=rating,
            )
            for rating, pts, text in _RATINGS
        ],
        *[
            _rule(
                f"quarterly_{rating}",
                "survey.quarterly_rated",
                "democratic",
                pts,
                f"季度评议：{text}",
                rating=rating,
            )
            for rating, pts, text in _RATINGS
        ],
    ],
}

# 每季度或半年对承担省、市重点项目任务的单位进行百分制综合考评排名.
ANYANG_UNIT_RANKING: dict[str, Any] = {
    "key": "unit_quarterly",
    "name_zh": "重点项目任务单位综合考评排名",
    "subject_kind": "unit",
    "scorecard": None,
    "period": "quarter",
    "top_n": 3,
    "bottom_n": 3,
    "public": True,
    "consequences": [
        {"position": "top_n", "consecutive": 1, "actions": ["praise"]},
        {"position": "bottom_n", "consecutive": 1, "actions": ["public_criticism"]},
        {"position": "last", "consecutive": 2, "actions": ["admonition"]},
        {"position": "last", "consecutive": 3, "actions": ["refer_to_organisation_dept"]},
    ],
}

# 代办员满意度测评表 (the form has seven rows; 5 levels).
ANYANG_AGENT_SURVEY: dict[str, Any] = {
    "key": "agent_satisfaction",
    "name_zh": "代办员满意度测评",
    "subject_kind": "agent",
    "trigger_event": "procedure.handed_over",
    "items": [
        {"key": "attitude", "name_zh": "服务态度"},
        {"key": "efficiency", "name_zh": "办事效率"},
        {"key": "answers", "name_zh": "解答问题准确、耐心、细致"},
        {"key": "appearance", "name_zh": "着装整洁、挂牌服务"},
        {"key": "no_fees", "name_zh": "无乱收费、乱培训、乱摊派"},
        {"key": "knowledge", "name_zh": "业务知识熟练，要求提供的材料一次性告知"},
        {"key": "integrity", "name_zh": "遵纪守法，无吃、拿、卡、要现象"},
    ],
    "levels": ["very_satisfied", "satisfied", "neutral", "dissatisfied", "very_dissatisfied"],
    "consequences": [
        {"level": "very_dissatisfied", "consecutive": 1, "actions": ["warning"]},
        {"level": "very_dissatisfied", "consecutive": 2, "actions": ["admonition", "written_self_criticism"]},
    ],
}

# 沈阳: 按月公布各地区招商项目签约落地、项目开复工、综合经济指标排名.
CITY_MONTHLY_DISTRICT_RANKING: dict[str, Any] = {
    "key": "district_monthly",
    "name_zh": "各地区项目工作月度排名",
    "subject_kind": "district",
    "scorecard": None,
    "period": "month",
    "top_n": 3,
    "bottom_n": 3,
    "public": True,
    "consequences": [],
}
