from __future__ import annotations

from datetime import date, time
from decimal import Decimal
from fractions import Fraction

import pytest
from pydantic import ValidationError

from steward.rules import (
    Applicability,
    CalendarSection,
    EscalationPolicy,
    NotifySection,
    ProjectFacts,
    ReportSchedule,
    RulesDocument,
    ScorecardDef,
    default_rules,
    green_channel_days,
    merge_rules,
    preset_rules,
    validate_override,
)


def test_green_channel_rounds_up_exactly() -> None:
    m = default_rules().matters
    assert m.green_channel_factor == Fraction(2, 3)
    assert m.promised_days("land_pre_review") == 20
    assert m.promised_days("land_pre_review", green_channel=True) == 14  # 13⅓ → 14
    assert m.promised_days("eia", green_channel=True) == 20  # 30 × 2/3 exactly
    assert m.promised_days("filing", green_channel=True) == 1
    assert green_channel_days(3, Fraction(2, 3)) == 2
    with pytest.raises(KeyError):
        m.promised_days("nope")
    assert (
        validate_override({"matters": {"green_channel_factor": "3/2"}})[0].path
        == "matters.green_channel_factor"
    )
    assert validate_override({"matters": {"green_channel_factor": 0.66}})  # floats rejected
    assert (
        merge_rules(default_rules(), {"matters": {"green_channel_factor": "1/2"}}).matters.promised_days(
            "eia", green_channel=True
        )
        == 15
    )


def test_procedure_catalogue_contents() -> None:
    names = {p.name_zh for p in default_rules().matters.procedures}
    for needed in (
        "项目备案",
        "用地预审与选址意见书",
        "建设用地规划许可证",
        "建设工程规划许可证",
        "环境影响评价审批",
    ):
        assert needed in names
    assert any("施工许可" in n for n in names)


def test_sla_lookup_and_category_override() -> None:
    doc = merge_rules(
        default_rules(),
        {"matters": {"sla": {"obstacle": {"district": 8}}}},
    )
    m = doc.matters
    assert m.sla_days("obstacle", "district") == 8
    assert m.sla_days("complaint", "unit") == 3
    taxonomy = [c.model_dump(mode="json") for c in m.taxonomy]
    taxonomy[0]["sla_days"] = {"unit": 2}
    m2 = merge_rules(doc, {"matters": {"taxonomy": taxonomy}}).matters
    assert m2.sla_days("obstacle", "unit", category=taxonomy[0]["code"]) == 2
    assert m2.sla_days("obstacle", "district", category=taxonomy[0]["code"]) == 8
    assert m2.sla_days("obstacle", "unit", category="unknown") == 5
    assert m.difficult_answer_days == 3 and m.materials_notice_days == 1


def test_escalation_chain() -> None:
    e = EscalationPolicy()
    assert e.next_tier("unit") == "district"
    assert e.next_tier("government") is None
    short = EscalationPolicy(chain=["unit", "city"])
    assert short.next_tier("unit") == "city"
    assert short.next_tier("district") == "city"
    with pytest.raises(ValidationError):
        EscalationPolicy(chain=["city", "unit"])
    with pytest.raises(ValidationError):
        EscalationPolicy(chain=["unit", "unit"])


def test_duplicate_codes_rejected() -> None:
    m = default_rules().matters
    procs = [p.model_dump(mode="json") for p in m.procedures]
    errors = validate_override({"matters": {"procedures": [*procs, procs[0]]}})
    assert errors and "duplicate procedure codes" in errors[0].message


def test_anyang_scorecard() -> None:
    card = preset_rules("anyang").scorecards.definitions[0]
    assert card.total_points == Decimal(100)
    assert {d.key: d.max_points for d in card.dimensions} == {
        "politics": 10,
        "performance": 30,
        "discipline": 20,
        "democratic": 20,
        "integrity": 10,
        "overall": 10,
    }
    assert card.floor_at_zero

    def points(event: str, **attrs: object) -> list[Decimal]:
        return [r.points for r in card.rules_for(event, dict(attrs))]

    ev = "procedure.incomplete_at_period_end"
    assert points(ev, key_level="provincial", difficulty="hard") == [Decimal("-0.5")]
    assert points(ev, key_level="provincial", difficulty="easy") == [Decimal("-1")]
    assert points(ev, key_level="city", difficulty="hard") == [Decimal("-0.3")]
    assert points(ev, key_level="city", difficulty="easy") == [Decimal("-0.5")]
    assert points("matter.rated", kind="procedure", rating="dissatisfied") == [Decimal("-1")]
    assert points("matter.rated", kind="obstacle", rating="dissatisfied") == []
    assert points("procedure.assisted_completed") == [Decimal("0.2")]
    delay = card.rules_for("procedure.completed", {"overdue": True})
    assert [r.points for r in delay] == [Decimal("-1")] and delay[0].subject == "responsible_agent"
    assert card.rules_for("procedure.completed", {"overdue": False}) == []
    onsite = {
        a: points("survey.answered", rating=a)
        for a in ("very_satisfied", "satisfied", "fairly_satisfied", "dissatisfied")
    }
    assert onsite == {
        "very_satisfied": [Decimal("1")],
        "satisfied": [Decimal("0")],
        "fairly_satisfied": [Decimal("-1")],
        "dissatisfied": [Decimal("-1.5")],
    }
    assert all(isinstance(r.points, Decimal) for r in card.rules)
    # 扣完为止 and cap
    assert card.apply(Decimal("0.3"), "performance", Decimal("-0.5")) == Decimal(0)
    assert card.apply(Decimal("29.9"), "performance", Decimal("0.2")) == Decimal(30)
    assert card.model_dump(mode="json")["rules"][0]["points"] == "-0.5"


def test_anyang_rankings_and_survey() -> None:
    sc = preset_rules("anyang").scorecards
    unit = next(r for r in sc.rankings if r.key == "unit_quarterly")
    assert (unit.period, unit.top_n, unit.bottom_n) == ("quarter", 3, 3)
    last = {c.consecutive: c.actions for c in unit.consequences if c.position == "last"}
    assert last == {2: ["admonition"], 3: ["refer_to_organisation_dept"]}
    survey = sc.surveys[0]
    assert len(survey.levels) == 5
    assert len(survey.items) == 7  # the seed's 测评表 has seven rows
    cons = {c.consecutive: c.actions for c in survey.consequences}
    assert cons == {1: ["warning"], 2: ["admonition", "written_self_criticism"]}


def test_scorecard_rule_must_use_known_dimension() -> None:
    with pytest.raises(ValidationError, match="unknown dimension"):
        ScorecardDef.model_validate(
            {
                "key": "x",
                "name_zh": "x",
                "subject_kind": "agent",
                "dimensions": [{"key": "a", "name_zh": "a", "max_points": "10"}],
                "rules": [
                    {"key": "r", "event_type": "e", "dimension": "b", "points": "-1", "reason_zh": "r"}
                ],
            }
        )
    errors = validate_override(
        {
            "scorecards": {
                "rankings": [{"key": "r", "name_zh": "r", "subject_kind": "unit", "scorecard": "ghost"}]
            }
        }
    )
    assert errors and "ghost" in errors[0].message


@pytest.mark.parametrize("bad", ["abc", "1.23456", True, "inf"])
def test_points_rejected(bad: object) -> None:
    with pytest.raises(ValidationError):
        ScorecardDef.model_validate(
            {
                "key": "x",
                "name_zh": "x",
                "subject_kind": "agent",
                "dimensions": [{"key": "a", "name_zh": "a", "max_points": bad}],
            }
        )


MATTER_EVENTS = [
    "filed",
    "accepted",
    "assigned",
    "reminder_due",
    "overdue",
    "escalated",
    "resolved",
    "confirmed",
    "reopened",
    "closed",
    "rated",
]


def test_notify_defaults_and_matching() -> None:
    n = default_rules().notify
    events = [
        "project.registered",
        "project.stage_changed",
        "roster.assigned",
        "roster.role_missing",
        "rules.updated",
        *(f"matter.{e}" for e in MATTER_EVENTS),
        "procedure.notice_issued",
        "procedure.completed",
        "procedure.handed_over",
    ]
    for event in events:
        assert n.routes_for(event), event
    overdue_city = n.routes_for("matter.overdue", {"tier": "city"})
    assert len(overdue_city) == 2 and any(r.severity == "critical" for r in overdue_city)
    assert len(n.routes_for("matter.overdue", {"tier": "unit"})) == 1
    glob = NotifySection.model_validate(
        {"routes": [{"event_type": "matter.*", "recipients": ["supervisor"]}]}
    )
    assert glob.routes_for("matter.escalated") and not glob.routes_for("meeting.scheduled")
    q = n.quiet_hours
    assert q.holds(time(23, 0), "sms", "warning")
    assert q.holds(time(6, 0), "wecom", "info")
    assert not q.holds(time(12, 0), "sms", "warning")
    assert not q.holds(time(23, 0), "sms", "critical")
    assert not q.holds(time(23, 0), "inbox", "info")
    assert validate_override(
        {"notify": {"routes": [{"event_type": "x", "recipients": ["a"], "channels": ["pigeon"]}]}}
    )


def test_report_schedule_shapes() -> None:
    ReportSchedule(key="w", name_zh="w", kind="weekly", weekday=4, due_time="18:00")
    with pytest.raises(ValidationError):
        ReportSchedule(key="s", name_zh="s", kind="semi_monthly", days=[25, 12])
    with pytest.raises(ValidationError):
        ReportSchedule(key="m", name_zh="m", kind="monthly", day=32)
    with pytest.raises(ValidationError):
        ReportSchedule(key="m", name_zh="m", kind="monthly", day=25, weekday=4)
    with pytest.raises(ValidationError):
        ReportSchedule(key="w", name_zh="w", kind="weekly", weekday=4, due_time="25:00")
    s = ReportSchedule(key="m", name_zh="m", kind="semi_monthly", days=[12, 25], due_time=1020)
    assert s.due_time == time(17, 0) and s.due_days() == [12, 25]
    assert s.model_dump(mode="json")["due_time"] == "17:00"


def test_calendar_section() -> None:
    cal = CalendarSection.model_validate(
        {
            "holidays": [{"date": "2027-01-01", "name": "元旦"}],
            "workdays": [{"date": "2027-02-06"}],
            "complete_years": [2027],
        }
    )
    assert cal.holidays[0].date == date(2027, 1, 1)
    with pytest.raises(ValidationError, match="both holiday and workday"):
        CalendarSection.model_validate(
            {"holidays": [{"date": "2027-01-01"}], "workdays": [{"date": "2027-01-01"}]}
        )
    doc = merge_rules(default_rules(), {"calendar": cal.model_dump(mode="json")})
    assert doc.calendar == cal


def test_applicability() -> None:
    cond = Applicability(
        min_investment="1亿", stages=["preparing", "new_start"], requires_flags=["named_responsibility"]
    )
    ok = ProjectFacts(investment=120_000_000, stage="preparing", flags={"named_responsibility"})
    assert cond.matches(ok)
    assert not cond.matches(ok.model_copy(update={"stage": "operating"}))
    assert not cond.matches(ok.model_copy(update={"flags": set()}))
    assert Applicability().matches(ProjectFacts())
    jinniu = preset_rules("jinniu").roster
    facts = ProjectFacts(key_level="city")
    assert "specialist" not in {r.key for r in jinniu.required_roles(facts)}
    facts = facts.model_copy(update={"milestones": {"land_contract_signed"}})
    assert "specialist" in {r.key for r in jinniu.required_roles(facts)}


def test_roster_validation() -> None:
    roles = [r.model_dump(mode="json") for r in default_rules().roster.roles]
    errors = validate_override({"roster": {"roles": [*roles, roles[0]]}})
    assert errors and "duplicate role keys" in errors[0].message
    errors = validate_override({"roster": {"roles": [{"key": "Bad Key", "name_zh": "x", "name_en": "x"}]}})
    assert errors[0].path == "roster.roles[0].key"
    errors = validate_override(
        {
            "roster": {
                "roles": [{"key": "x", "name_zh": "x", "name_en": "x", "cardinality": {"min": 2, "max": 1}}]
            }
        }
    )
    assert errors[0].path == "roster.roles[0].cardinality"


def test_meetings_default() -> None:
    s = RulesDocument().meetings.series[0]
    assert (s.weekday, s.time, s.agenda_deadline.weekday, s.agenda_deadline.time, s.compile_weekday) == (
        5,
        time(9, 0),
        1,
        time(17, 0),
        4,
    )
    assert s.required_signoffs == ["unit_head", "leader_in_charge"]
    assert validate_override(
        {
            "meetings": {
                "series": [{"key": "m", "name_zh": "m", "agenda_order": ["chair_summary", "chair_summary"]}]
            }
        }
    )
