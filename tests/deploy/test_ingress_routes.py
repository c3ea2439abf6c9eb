"""The chart's ingress route table (deploy/helm/steward/values.yaml) against the code: every path a
service serves (its ``openapi_app()`` document) reaches that service through the rendered Ingress,
every route serves something, and the chart deploys only services that exist.

Services are discovered from the tree (``services/<name>/steward/<name>/app.py``), so a service that
lands later is covered as soon as its app exists."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest

from steward.devtools.chart import CHART_SERVICES, DEFAULT_VALUES, RELEASE, SERVICES, one, render

ROOT = Path(__file__).resolve().parents[2]


def service_apps() -> dict[str, Path]:
    """``{service: app.py}`` for every service in the tree that has an ``openapi_app()``."""
    found = {}
    for app in sorted(ROOT.glob("services/*/steward/*/app.py")):
        name = app.parent.name
        if app.parents[2].name == name and "def openapi_app(" in app.read_text(encoding="utf-8"):
            found[name] = app
    return found


@cache
def served_paths(service: str) -> frozenset[str]:
    try:
        module = importlib.import_module(f"steward.{service}.app")
    except ModuleNotFoundError as exc:  # pragma: no cover - a new service not yet in the workspace
        pytest.fail(f"services/{service} exists but steward.{service}.app does not import ({exc}); uv sync?")
    document: dict[str, Any] = module.openapi_app().openapi()
    return frozenset(document["paths"])


@cache
def console_paths() -> frozenset[str]:
    """The web console's pages (served at ``/``; every path no service claims)."""
    from steward.console.app import build
    from steward.console.settings import ConsoleSettings

    def walk(routes: list[Any], prefix: str = "") -> Iterator[str]:
        for route in routes:
            included = getattr(route, "include_context", None)  # FastAPI's lazily included router
            if included is not None:
                yield from walk(included.included_router.routes, prefix + included.prefix)
            elif getattr(route, "path", ""):
                yield prefix + route.path

    settings = ConsoleSettings(
        environment="dev", jwt_dev_secret="x" * 32, meetings_url="http://m", scoring_url="http://s"
    )
    app = build(settings)
    return frozenset(walk(app.routes))


def covers(prefix: str, path: str) -> bool:
    """Kubernetes ``pathType: Prefix`` matching: element-wise, ``/v1/map`` matches ``/v1/map/x``, not ``/v1/maps``."""
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def route_for(path: str, routes: dict[str, str]) -> str | None:
    """The service the Ingress sends ``path`` to: the longest matching prefix wins."""
    matching = [prefix for prefix in routes if covers(prefix, path)]
    return routes[max(matching, key=len)] if matching else None


def ingress_routes(docs: list[dict[str, Any]]) -> dict[str, str]:
    """``{path prefix: service}`` of the rendered Ingress."""
    (rule,) = one(docs, "Ingress", RELEASE)["spec"]["rules"]
    prefix = f"{RELEASE}-"
    return {p["path"]: p["backend"]["service"]["name"].removeprefix(prefix) for p in rule["http"]["paths"]}


def route_problems(routes: dict[str, str], served: dict[str, frozenset[str]]) -> list[str]:
    problems = []
    for service, paths in sorted(served.items()):
        for path in sorted(paths):
            target = route_for(path, routes)
            if target != service:
                problems.append(f"{service} serves {path} but the ingress sends it to {target or 'nothing'}")
    for prefix, service in sorted(routes.items()):
        if not any(covers(prefix, path) for path in served.get(service, ())):
            problems.append(f"route {prefix} -> {service} serves nothing")
    return problems


def test_discovery_finds_the_services() -> None:
    apps = service_apps()
    assert {"registry", "issues", "notify"} <= set(apps)
    assert "/v1/projects/{id_or_code}" in served_paths("registry")


def test_chart_deploys_exactly_the_services_that_exist() -> None:
    apps = service_apps()
    missing = sorted(set(SERVICES) - set(apps))
    assert not missing, f"values.yaml enables services with no app in services/: {missing}"
    undeployed = sorted(set(apps) - set(SERVICES))
    assert not undeployed, (
        f"services {undeployed} exist but the chart does not deploy them: add them to "
        "deploy/helm/steward (values.yaml services + ingress.routes, values.schema.json) and enable them"
    )
    assert set(SERVICES) <= set(CHART_SERVICES)


def test_every_served_path_is_routed_and_every_route_serves(chart: helm.Chart) -> None:
    served = {service: served_paths(service) for service in service_apps()}
    if DEFAULT_VALUES["console"]["enabled"]:
        served["console"] = console_paths()
        # a path both serve (the survey page behind scoring's links) is the console's: people
        # open it in a browser and the console relays the answer to the service in-cluster
        served = {s: p - served["console"] if s != "console" else p for s, p in served.items()}
    routes = ingress_routes(render(chart))
    assert route_problems(routes, served) == []
    # Routes of services that do not exist yet stay in the table but are not rendered.
    table = DEFAULT_VALUES["ingress"]["routes"]
    deployed = {*SERVICES, *(["console"] if DEFAULT_VALUES["console"]["enabled"] else [])}
    assert set(routes) == {p for svc, paths in table.items() if svc in deployed for p in paths}


def test_the_check_catches_disagreement() -> None:
    served = {"registry": frozenset({"/v1/projects", "/v1/projects/{id}", "/v1/maps"}), "issues": frozenset()}
    routes = {"/v1/projects": "registry", "/v1/map": "registry", "/v1/procedures": "issues"}
    assert route_problems(routes, served) == [
        "registry serves /v1/maps but the ingress sends it to nothing",
        "route /v1/map -> registry serves nothing",
        "route /v1/procedures -> issues serves nothing",
    ]
    # A longer prefix of another service steals the path.
    stolen = route_problems(
        {"/v1/projects": "registry", "/v1/projects/x": "issues"},
        {"registry": frozenset({"/v1/projects/x/y"})},
    )
    assert stolen[0] == "registry serves /v1/projects/x/y but the ingress sends it to issues"
