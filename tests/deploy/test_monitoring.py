"""Alerts, runbooks and dashboards of the chart (metrics.prometheusRule, metrics.dashboards).

* ``promtool check rules`` (Debian's ``prometheus`` package; ``make test`` installs it as root) on the
  rendered PrometheusRule, and ``promtool test rules`` with synthetic series: each alert fires on the
  situation it is about (and not on a healthy one), with the labels its runbook refers to;
* every alert has a runbook in docs/runbooks/<alert>.md (meaning, check, fix), linked by runbook_url;
* the dashboards are valid Grafana JSON shipped as ConfigMaps, and every metric name a rule or a
  dashboard queries is one the services export (collected from the metric definitions the services'
  modules register with prometheus_client).
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from prometheus_client import REGISTRY

from steward.devtools.chart import CHART, RELEASE, of_kind, render

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "docs" / "runbooks"
DASHBOARDS = CHART / "dashboards"
ENABLED = {"metrics": {"prometheusRule": {"enabled": True}, "dashboards": {"enabled": True}}}
EXPECTED_ALERTS = {
    "StewardOutboxStale",
    "StewardDeadLettersWaiting",
    "StewardConsumerLag",
    "StewardHighErrorRate",
    "StewardJwksFetchFailing",
    "StewardOverdueMattersRising",
    "StewardCalendarYearNotCovered",
    "StewardNotificationFailures",
}
METRIC = re.compile(r"\b(steward_[a-z0-9_]+)\b")
# modules defining metrics: importing the apps registers every service's metrics
METRIC_MODULES = (
    "steward.kit.metrics",
    "steward.kit.overload",
    "steward.kit.seclog",
    "steward.kit.auth_keys",
    "steward.kit.auth_tokens",
    "steward.registry.app",
    "steward.issues.app",
    "steward.meetings.app",
    "steward.scoring.app",
    "steward.notify.app",
)


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool") or ("/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None)
    if found is None:
        pytest.fail(
            "promtool is missing: install Debian's prometheus package "
            "(`make test` does as root; otherwise: apt-get install -y prometheus)"
        )
    return found


@pytest.fixture(scope="module")
def docs(chart: helm.Chart) -> list[dict[str, Any]]:
    return render(chart, ENABLED)


@pytest.fixture(scope="module")
def rules(docs: list[dict[str, Any]]) -> dict[str, Any]:
    [rule] = of_kind(docs, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["name"] == RELEASE
    return rule["spec"]


@pytest.fixture(scope="module")
def rules_file(rules: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "steward-rules.yaml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _alerts(rules: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for group in rules["groups"] for r in group["rules"] if "alert" in r]


def exported_metric_names() -> set[str]:
    """Every sample name the services can export, from their metric definitions."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "summary": ("_count", "_sum", "_created"),
    }
    names: set[str] = set()
    for family in REGISTRY.collect():
        if family.name.startswith("steward_"):
            names |= {family.name + s for s in suffixes.get(family.type, ("",))}
    return names


# --- rules -----------------------------------------------------------------------------------------
def test_off_by_default(chart: helm.Chart) -> None:
    docs = render(chart)
    assert of_kind(docs, "PrometheusRule") == []
    assert not [d for d in of_kind(docs, "ConfigMap") if "-dashboard-" in d["metadata"]["name"]]


def test_promtool_checks_the_rendered_rules(promtool: str, rules_file: Path) -> None:
    result = subprocess.run(
        [promtool, "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=120
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "SUCCESS" in output and "FAILED" not in output, output


def test_the_expected_alerts_exist_with_severity_and_runbook(rules: dict[str, Any]) -> None:
    alerts = _alerts(rules)
    assert {a["alert"] for a in alerts} == EXPECTED_ALERTS
    for alert in alerts:
        assert alert["labels"]["severity"] in {"warning", "critical"}, alert["alert"]
        assert alert["annotations"]["summary"] and alert["annotations"]["description"]
        url = alert["annotations"]["runbook_url"]
        assert url.endswith(f"/{alert['alert']}.md"), url


def test_every_alert_has_a_runbook(rules: dict[str, Any]) -> None:
    for name in {a["alert"] for a in _alerts(rules)}:
        path = RUNBOOKS / f"{name}.md"
        assert path.is_file(), f"no runbook for {name}: {path}"
        text = path.read_text(encoding="utf-8")
        assert text.startswith(f"# {name}\n"), name
        for section in ("## Meaning", "## Check", "## Fix"):
            assert section in text, (name, section)
        assert METRIC.search(text), f"{name}'s runbook names no metric"
    orphans = {p.stem for p in RUNBOOKS.glob("*.md")} - EXPECTED_ALERTS - {"README"}
    assert not orphans, f"runbooks of no alert: {orphans}"


def test_thresholds_and_runbook_base_come_from_values(chart: helm.Chart) -> None:
    values = {
        "metrics": {
            "prometheusRule": {
                "enabled": True,
                "labels": {"release": "kube-prometheus-stack"},
                "runbookBaseUrl": "https://wiki.example.org/steward/runbooks/",
                "thresholds": {"outboxAgeSeconds": 42},
            }
        }
    }
    [rule] = of_kind(render(chart, values), "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    alerts = {a["alert"]: a for a in _alerts(rule["spec"])}
    assert alerts["StewardOutboxStale"]["expr"].endswith("> 42")
    url = alerts["StewardOutboxStale"]["annotations"]["runbook_url"]
    assert url == "https://wiki.example.org/steward/runbooks/StewardOutboxStale.md"


def test_metrics_queried_by_the_rules_are_exported(rules: dict[str, Any]) -> None:
    exported = exported_metric_names()
    queried = {m for r in _alerts(rules) for m in METRIC.findall(r["expr"])}
    assert queried and not queried - exported, f"not exported: {sorted(queried - exported)}"


# --- the alerts fire on what they are about ----------------------------------------------------------
UNIT_TESTS: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "alert_cases.yaml").read_text(encoding="utf-8")
)


def _promtool_test(
    promtool: str, directory: Path, name: str, rules: dict[str, Any], document: dict[str, Any]
) -> None:
    (directory / f"{name}.rules.yaml").write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    tests = directory / f"{name}.test.yaml"
    tests.write_text(
        yaml.safe_dump({"rule_files": [f"{name}.rules.yaml"], **document}, allow_unicode=True),
        encoding="utf-8",
    )
    result = subprocess.run(
        [promtool, "test", "rules", tests.name], capture_output=True, text=True, timeout=120, cwd=directory
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_alerts_fire_on_what_they_are_about(promtool: str, rules: dict[str, Any], tmp_path: Path) -> None:
    tested = {t["alertname"] for case in UNIT_TESTS for t in case["alert_rule_test"]}
    assert tested == EXPECTED_ALERTS
    # labels and timing here (annotations are checked below): the rules without annotations
    bare = {
        "groups": [
            {**g, "rules": [{k: v for k, v in r.items() if k != "annotations"} for r in g["rules"]]}
            for g in rules["groups"]
        ]
    }
    # evaluated every minute, except over the months the calendar case spans
    hourly = [c for c in UNIT_TESTS if c["interval"] == "1h"]
    minutes = [c for c in UNIT_TESTS if c not in hourly]
    _promtool_test(promtool, tmp_path, "minutes", bare, {"evaluation_interval": "1m", "tests": minutes})
    _promtool_test(promtool, tmp_path, "hours", bare, {"evaluation_interval": "1h", "tests": hourly})


def test_alert_annotations_render(promtool: str, rules: dict[str, Any], tmp_path: Path) -> None:
    case = {
        "interval": "1m",
        "input_series": [
            {
                "series": 'steward_outbox_oldest_age_seconds{namespace="s",service="issues"}',
                "values": "900x20",
            }
        ],
        "alert_rule_test": [
            {
                "eval_time": "10m",
                "alertname": "StewardOutboxStale",
                "exp_alerts": [
                    {
                        "exp_labels": {"severity": "warning", "namespace": "s", "service": "issues"},
                        "exp_annotations": {
                            "summary": "issues: events wait in the outbox",
                            "description": "The oldest unpublished event of issues is 15m 0s old: the "
                            "outbox relay cannot publish to NATS.",
                            "runbook_url": "https://example.invalid/steward/blob/main/docs/runbooks/"
                            "StewardOutboxStale.md",
                        },
                    }
                ],
            }
        ],
    }
    _promtool_test(promtool, tmp_path, "annotations", rules, {"evaluation_interval": "1m", "tests": [case]})


# --- dashboards ------------------------------------------------------------------------------------
def _dashboards() -> dict[str, dict[str, Any]]:
    files = sorted(DASHBOARDS.glob("*.json"))
    assert {p.stem for p in files} == {"platform-overview", "service", "bus-and-timers", "notifications"}
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in files}


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    for var in dashboard.get("templating", {}).get("list", []):
        query = var.get("query")
        if isinstance(query, dict):
            exprs.append(query.get("query", ""))
    return exprs


def test_dashboards_are_grafana_json_with_unique_uids_and_panels() -> None:
    dashboards = _dashboards()
    uids = [d["uid"] for d in dashboards.values()]
    assert len(set(uids)) == len(uids)
    for name, dashboard in dashboards.items():
        assert dashboard["title"].startswith("Steward / "), name
        assert dashboard["schemaVersion"] >= 36, name
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(set(ids)) == len(ids) and ids, name
        for panel in dashboard["panels"]:
            assert panel["targets"], (name, panel["title"])
            assert panel["datasource"]["uid"] == "${datasource}", (name, panel["title"])
            for target in panel["targets"]:
                assert target["expr"].count("(") == target["expr"].count(")"), (name, target["expr"])


def test_dashboards_query_only_exported_metrics() -> None:
    exported = exported_metric_names()
    for name, dashboard in _dashboards().items():
        queried = {m for expr in _exprs(dashboard) for m in METRIC.findall(expr)}
        assert queried, name
        assert not queried - exported, (name, sorted(queried - exported))


def test_dashboards_ship_as_configmaps(docs: list[dict[str, Any]]) -> None:
    maps = {
        d["metadata"]["name"]: d for d in of_kind(docs, "ConfigMap") if "-dashboard-" in d["metadata"]["name"]
    }
    assert set(maps) == {f"{RELEASE}-dashboard-{Path(n).stem}" for n in _dashboards()}
    for name, dashboard in _dashboards().items():
        cm = maps[f"{RELEASE}-dashboard-{Path(name).stem}"]
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert json.loads(cm["data"][name]) == dashboard
