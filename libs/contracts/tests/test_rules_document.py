from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from steward.rules import (
    PRESETS,
    RulesDocument,
    deep_merge,
    default_rules,
    diff_rules,
    effective_rules,
    merge_rules,
    override_json_schema,
    preset_names,
    preset_override,
    preset_rules,
    rules_fingerprint,
    rules_json_schema,
    validate_override,
)


def test_defaults_validate_and_round_trip() -> None:
    doc = default_rules()
    assert doc == RulesDocument()
    again = RulesDocument.model_validate_json(doc.model_dump_json())
    assert again == doc
    assert RulesDocument.model_validate(json.loads(doc.model_dump_json())) == doc
    assert doc.thresholds.platform_min == 5_000_000
    assert doc.thresholds.steward_required_min is None
    assert doc.thresholds.named_responsibility_min == 100_000_000
    assert len(doc.matters.taxonomy) == 8
    assert sum(len(c.items) for c in doc.matters.taxonomy) == 45
    assert "非官方" in doc.matters.taxonomy_note


def test_partial_document_is_filled_from_defaults() -> None:
    doc = RulesDocument.model_validate({"thresholds": {"steward_required_min": "2000万"}})
    assert doc.thresholds.steward_required_min == 20_000_000
    assert doc.thresholds.platform_min == 5_000_000
    assert doc.roster == default_rules().roster


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_validates_and_merges(name: str) -> None:
    override = preset_override(name)
    assert validate_override(override) == []
    doc = preset_rules(name)
    assert isinstance(doc, RulesDocument)
    assert RulesDocument.model_validate_json(doc.model_dump_json()) == doc
    # the Shenyang city preset is a valid parent for every district preset
    assert validate_override(override, parent=preset_rules("shenyang")) == []


def test_preset_contents() -> None:
    assert set(PRESETS) == {"shenyang", "fuxin_steward", "anyang", "huiji", "jinniu"}
    assert preset_rules("shenyang") == default_rules()

    fuxin = preset_rules("fuxin_steward")
    assert fuxin.thresholds.steward_required_min == 20_000_000
    assert [r.key for r in fuxin.roster.roles][:5] == [
        "steward",
        "leader",
        "lead_unit",
        "service_team",
        "secretary",
    ]
    assert any("一竿子抓到底" in p for p in fuxin.roster.principles)
    assert fuxin.service_log.approval_required

    anyang = preset_rules("anyang")
    assert {r.key for r in anyang.roster.roles} == {
        "hq",
        "commander",
        "bureau_head",
        "agent",
        "township_cadre",
    }
    semi = anyang.reports.schedules[0]
    assert (semi.kind, semi.days, semi.holiday_shift, semi.summary_offset_days) == (
        "semi_monthly",
        [12, 25],
        "earlier",
        1,
    )
    assert semi.paper_signoff_required and semi.paper_signoff_role == "commander"
    series = anyang.meetings.series[0]
    assert (
        series.weekday,
        series.time.hour,
        series.agenda_deadline.weekday,
        series.agenda_deadline.time.hour,
    ) == (
        5,
        9,
        1,
        17,
    )
    assert series.compile_weekday == 4
    assert series.agenda_order == ["supervision_report", "project_problems", "chair_summary"]
    assert {(r.role, r.min_visits, r.per) for r in anyang.service_log.rules} >= {("hq", 2, "week")}

    huiji = preset_rules("huiji")
    weekly = huiji.reports.schedules[0]
    assert (weekly.kind, weekly.weekday, weekly.due_time.strftime("%H:%M")) == ("weekly", 4, "18:00")
    assert huiji.matters.difficult_answer_days == 3
    assert huiji.matters.materials_notice_days == 1

    jinniu = preset_rules("jinniu")
    assert jinniu.reports.schedules[0].kind == "monthly" and jinniu.reports.schedules[0].day == 25
    specialist = jinniu.roster.role("specialist")
    assert specialist is not None and specialist.applies_when.from_milestone == "land_contract_signed"


def test_merge_semantics_mappings_recurse_lists_replace() -> None:
    parent = preset_rules("anyang")
    child = merge_rules(
        parent,
        {
            "matters": {"sla": {"obstacle": {"unit": 3}}},
            "reports": {"schedules": [{"key": "monthly", "name_zh": "月报", "kind": "monthly", "day": 20}]},
        },
    )
    # nested mapping merged: only obstacle.unit changed
    assert child.matters.sla.obstacle.unit == 3
    assert child.matters.sla.obstacle.district == parent.matters.sla.obstacle.district
    assert child.matters.sla.procedure == parent.matters.sla.procedure
    # list replaced wholesale
    assert [s.key for s in child.reports.schedules] == ["monthly"]
    # untouched sections inherited
    assert child.roster == parent.roster
    assert child.scorecards == parent.scorecards
    # the parent is not mutated
    assert [s.key for s in parent.reports.schedules] == ["semi_monthly_progress", "agent_weekly"]


def test_deep_merge_does_not_mutate() -> None:
    base: dict[str, Any] = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    override: dict[str, Any] = {"a": {"c": [3]}, "e": {"f": 1}}
    merged = deep_merge(base, override)
    assert merged == {"a": {"b": 1, "c": [3]}, "d": 1, "e": {"f": 1}}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    merged["e"]["f"] = 2
    assert override["e"]["f"] == 1


def test_effective_rules_chain() -> None:
    city = preset_override("shenyang")
    district = preset_override("fuxin_steward")
    zone = {"reports": {"schedules": [{"key": "w", "name_zh": "周报", "kind": "weekly", "weekday": 4}]}}
    doc = effective_rules([city, district, zone])
    assert doc.thresholds.steward_required_min == 20_000_000
    assert doc.roster.role("steward") is not None
    assert doc.reports.schedules[0].key == "w"


def test_unknown_field_rejected_with_path() -> None:
    errors = validate_override({"matters": {"sla": {"obstacle": {"unti": 3}}}})
    assert len(errors) == 1
    assert errors[0].loc == ["matters", "sla", "obstacle", "unti"]
    assert errors[0].path == "matters.sla.obstacle.unti"
    assert errors[0].type == "extra_forbidden"
    errors = validate_override(
        {"roster": {"roles": [{"key": "x", "name_zh": "x", "name_en": "x", "requird": True}]}}
    )
    assert errors[0].path == "roster.roles[0].requird"
    assert validate_override({"tresholds": {}})[0].path == "tresholds"
    with pytest.raises(ValidationError):
        merge_rules(default_rules(), {"thresholds": {"platfrom_min": 1}})


def test_validate_override_never_raises() -> None:
    assert validate_override([1, 2])[0].type == "dict_type"
    assert validate_override("thresholds: {}")[0].type == "dict_type"
    errors = validate_override(
        {"thresholds": {"platform_min": "12.345"}, "matters": {"green_channel_factor": 0.66}}
    )
    assert {e.path for e in errors} == {"thresholds.platform_min", "matters.green_channel_factor"}
    assert all(e.message and e.type for e in errors)
    assert validate_override({"schema_version": 2})[0].path == "schema_version"
    assert validate_override({"thresholds": None})[0].path == "thresholds"
    assert validate_override({}) == []


def test_cross_reference_errors() -> None:
    errors = validate_override(
        {"service_log": {"rules": [{"role": "nobody", "min_visits": 1, "per": "week"}]}}
    )
    assert errors and "nobody" in errors[0].message
    # a child that replaces Anyang's roster must not leave the commander sign-off dangling
    errors = validate_override({"roster": preset_override("jinniu")["roster"]}, parent=preset_rules("anyang"))
    assert any("paper_signoff_role" in e.message for e in errors)


def test_diff_rules() -> None:
    old = default_rules()
    new = merge_rules(
        old,
        {
            "thresholds": {"steward_required_min": "2000万"},
            "matters": {"difficult_answer_days": 5},
            "roster": {"roles": [r.model_dump(mode="json") for r in old.roster.roles if r.key != "liaison"]},
        },
    )
    changes = {c.path: c for c in diff_rules(old, new)}
    c = changes["thresholds.steward_required_min"]
    assert (c.op, c.old, c.new) == ("changed", None, 20_000_000)
    assert changes["matters.difficult_answer_days"].old == 3
    assert changes["matters.difficult_answer_days"].new == 5
    removed = [c for c in changes.values() if c.op == "removed"]
    assert len(removed) == 1 and removed[0].old["key"] == "liaison" and removed[0].path == "roster.roles[2]"
    assert len(changes) == 3  # keyed list matching: no spurious shifts
    assert diff_rules(old, default_rules()) == []
    json.dumps([c.model_dump(mode="json") for c in diff_rules(old, new)])


def test_json_schema_export() -> None:
    schema = rules_json_schema()
    assert schema["title"] == "RulesDocument"
    assert "thresholds" in schema["properties"]
    json.dumps(schema)
    partial = override_json_schema()
    text = json.dumps(partial)
    assert '"required": [' not in text
    role = partial["$defs"]["RoleTemplate"]
    assert "required" in role["properties"]  # the role's own 'required' field survives
    assert role["additionalProperties"] is False


def test_jsonschema_validates_presets_if_available() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = override_json_schema()
    for name in preset_names():
        jsonschema.validate(preset_override(name), schema)
    jsonschema.validate(json.loads(default_rules().model_dump_json()), rules_json_schema())


def test_fingerprint_is_stable() -> None:
    assert rules_fingerprint(default_rules()) == rules_fingerprint(RulesDocument())
    assert rules_fingerprint(default_rules()) != rules_fingerprint(preset_rules("huiji"))


def test_yaml_document_with_sexagesimal_times() -> None:
    yaml = pytest.importorskip("yaml")
    text = """
reports:
  schedules:
    - key: weekly
      name_zh: 周报
      kind: weekly
      weekday: 4
      due_time: 18:00
thresholds:
  steward_required_min: 2000万
scorecards:
  definitions:
    - key: agent
      name_zh: 代办员
      subject_kind: agent
      dimensions: [{key: performance, name_zh: 工作业绩, max_points: 30}]
      rules:
        - {key: r, event_type: procedure.delayed, dimension: performance, points: -0.3, reason_zh: 延期}
"""
    override = yaml.safe_load(text)
    assert override["reports"]["schedules"][0]["due_time"] == 1080  # YAML 1.1 base-60
    doc = merge_rules(default_rules(), override)
    assert doc.reports.schedules[0].due_time.strftime("%H:%M") == "18:00"
    assert doc.thresholds.steward_required_min == 20_000_000
    assert str(doc.scorecards.definitions[0].rules[0].points) == "-0.3"
