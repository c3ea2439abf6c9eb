"""Each of the seven office routines the seeds ask for (agents' weekly report, return visits, the
dispatch rhythm, circulars, the national project code, node-plan templates, other systems feeding
the platform) has its REST API in the OpenAPI documents, its events in the event catalogue and a
paragraph in the docs."""

from __future__ import annotations

from pathlib import Path

import pytest

from steward.events.catalog import ALL_EVENTS
from steward.issues.app import openapi_app as issues_openapi
from steward.registry.app import openapi_app as registry_openapi

DOCS = Path(__file__).resolve().parents[3] / "docs"

# routine → (registry paths, issues paths, events, (doc file, heading))
ROUTINES: dict[str, tuple[list[str], list[str], list[str], tuple[str, str]]] = {
    "agents' weekly report": (
        ["/v1/agent-reports", "/v1/agent-reports/draft", "/v1/agent-reports/status"],
        [],
        ["agent_report.submitted", "agent_report.overdue"],
        ("reports.md", "## Agents' weekly work report"),
    ),
    "return visits": (
        ["/v1/return-visits", "/v1/return-visits/{visit_id}/record", "/v1/return-visits/stats"],
        [],
        ["return_visit.recorded"],
        ("reports.md", "## Return visits"),
    ),
    "dispatch rhythm": (
        ["/v1/reports/focus", "/v1/reports/summary", "/v1/service-log"],
        [],
        ["visit.logged"],  # half-year 拉练/观摩 are service-log entries
        ("reports.md", "## Dispatch rhythm"),
    ),
    "circulars": (
        ["/v1/circulars", "/v1/circulars/{circular_id}", "/v1/circulars/{circular_id}/document"],
        [],
        ["circular.issued"],
        ("reports.md", "## Circulars"),
    ),
    "national project code": (
        ["/v1/projects", "/v1/projects/gaps/national-code"],
        [],
        ["project.registered", "project.updated"],
        ("reports.md", "## National project code"),
    ),
    "node-plan templates": (
        [
            "/v1/node-plan-templates",
            "/v1/projects/{id_or_code}/node-plan",
            "/v1/projects/{id_or_code}/node-plan/{milestone_id}/delay",
            "/v1/projects/{id_or_code}/node-plan/changes",
            "/v1/projects/{id_or_code}/node-plan/changes/{change_id}/approve",
            "/v1/projects/{id_or_code}/node-plan/changes/{change_id}/reject",
        ],
        [],
        [
            "node_plan.applied",
            "milestone.shifted",
            "node_plan_change.requested",
            "node_plan_change.approved",
            "node_plan_change.rejected",
        ],
        ("reports.md", "### Node-plan templates"),
    ),
    "other systems feed the platform": (
        ["/v1/inbound/projects", "/v1/inbound/projects/bulk"],
        ["/v1/inbound/procedures", "/v1/inbound/procedures/bulk"],
        ["matter.accepted", "procedure.completed", "matter.returned", "project.updated", "milestone.reached"],
        ("inbound.md", "# Inbound interface"),
    ),
}


@pytest.fixture(scope="module")
def paths() -> dict[str, set[str]]:
    return {
        "registry": set(registry_openapi().openapi()["paths"]),
        "issues": set(issues_openapi().openapi()["paths"]),
    }


@pytest.mark.parametrize("routine", list(ROUTINES))
def test_routine_has_api_events_and_docs(routine: str, paths: dict[str, set[str]]) -> None:
    registry_paths, issues_paths, events, (doc, heading) = ROUTINES[routine]
    assert set(registry_paths) <= paths["registry"], set(registry_paths) - paths["registry"]
    assert set(issues_paths) <= paths["issues"], set(issues_paths) - paths["issues"]
    catalogue = {m.short_type() for m in ALL_EVENTS}
    assert set(events) <= catalogue, set(events) - catalogue
    text = (DOCS / doc).read_text(encoding="utf-8")
    at = text.find(heading)
    assert at >= 0, f"{doc} has no section {heading!r}"
    paragraph = text[at : at + 2000]
    assert len(paragraph.split()) > 50  # more than a heading
