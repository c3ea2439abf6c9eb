"""The Helm chart: strict lint, values schema and Kubernetes validation of every rendered manifest,
all offline through helm-python-sdk and kubernetes-validate's bundled OpenAPI schemas."""

from __future__ import annotations

import copy
import functools
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import kubernetes_validate.utils
import pytest
import yaml

from steward.devtools.chart import (
    CHART,
    CRD_KINDS,
    KUBE_VERSION,
    MISSING_DEPS,
    NAMESPACE,
    RELEASE,
    VARIANTS,
    Manifest,
    lint_errors,
    of_kind,
    render,
)

# --- lint ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_lint_strict(variant: str) -> None:
    report = helm.lint(CHART, VARIANTS[variant], strict=True, kube_version=f"v{KUBE_VERSION}")
    assert report["total_charts_linted"] == 1
    assert lint_errors(report) == []


def test_lint_strict_is_clean_without_declared_dependencies(tmp_path: Path) -> None:
    """The only strict-lint finding on the real chart is the absent optional subcharts.

    A copy whose Chart.yaml drops `dependencies:` lints with no warning at all.
    """
    report = helm.lint(CHART, strict=True, kube_version=f"v{KUBE_VERSION}")
    assert {m["error"] for m in report["messages"] if m["severity"] >= 2} <= {
        f"{MISSING_DEPS}: nats,cloudnative-pg"
    }

    copy_dir = tmp_path / "steward"
    shutil.copytree(CHART, copy_dir)
    meta = yaml.safe_load((copy_dir / "Chart.yaml").read_text())
    meta.pop("dependencies")
    (copy_dir / "Chart.yaml").write_text(yaml.safe_dump(meta, allow_unicode=True))
    clean = helm.lint(copy_dir, strict=True, kube_version=f"v{KUBE_VERSION}")
    assert lint_errors(clean, allow_missing_deps=False) == []


def test_dependencies_are_optional_and_off_by_default(chart: helm.Chart) -> None:
    deps = {d["name"]: d for d in chart.metadata["dependencies"]}
    assert set(deps) == {"nats", "cloudnative-pg"}
    assert chart.dependencies == []  # nothing vendored: renders without them
    for dep in deps.values():
        node: Any = chart.values
        for part in dep["condition"].split("."):
            node = node[part]
        assert node is False, dep


# --- schema --------------------------------------------------------------------------------------


def test_schema_is_valid_json_schema_and_accepts_defaults(chart: helm.Chart) -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.validate(chart.values, schema)
    chart.validate_schema(chart.values)


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"services": {"registry": {"replicas": "three"}}}, "/services/registry/replicas"),
        ({"services": {"billing": {"enabled": True}}}, "billing"),
        ({"services": {"issues": {"ports": {"http": 70000}}}}, "/services/issues/ports/http"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"services": {"notify": {"pdb": {"minAvailable": "half"}}}}, "/services/notify/pdb/minAvailable"),
        ({"ingress": {"routes": {"registry": ["v1/projects"]}}}, "/ingress/routes/registry/0"),
        ({"ingress": {"routes": {"payroll": ["/v1/pay"]}}}, "payroll"),
        ({"services": {"registry": {"env": {"DATABASE_URL": "x"}}}}, "DATABASE_URL"),
        ({"postgresql": {"cnpg": {"enabled": "yes"}}}, "/postgresql/cnpg/enabled"),
        ({"metrics": {"serviceMonitor": {"interval": "often"}}}, "/metrics/serviceMonitor/interval"),
    ],
)
def test_invalid_values_are_rejected(chart: helm.Chart, values: dict[str, Any], needle: str) -> None:
    with pytest.raises(helm.HelmValuesError) as render_error:
        chart.render(values, name=RELEASE, namespace=NAMESPACE)
    assert needle in str(render_error.value)

    report = helm.lint(CHART, values, strict=True)
    errors = [m["error"] for m in report["messages"] if m["severity"] == 3]
    assert errors and any(needle in e for e in errors), report


# --- Kubernetes validation -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def k8s_validate() -> Iterator[Any]:
    """kubernetes_validate.validate with its schema files parsed once, not once per object."""
    with pytest.MonkeyPatch.context() as mp:
        cached = functools.lru_cache(maxsize=None)(kubernetes_validate.utils.schema_contents)
        mp.setattr(kubernetes_validate.utils, "schema_contents", cached)
        yield functools.partial(kubernetes_validate.validate, desired_version=KUBE_VERSION, strict=True)


def test_strict_kubernetes_validation_catches_mistakes(chart: helm.Chart, k8s_validate: Any) -> None:
    deployment = copy.deepcopy(of_kind(render(chart), "Deployment")[0])
    k8s_validate(deployment)
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFs"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        k8s_validate(deployment)


def check_crd(doc: Manifest) -> None:
    """Structural checks for the custom resources kubernetes-validate has no schema for."""
    spec = doc["spec"]
    if doc["kind"] == "ServiceMonitor":
        assert spec["selector"]["matchLabels"]
        for endpoint in spec["endpoints"]:
            assert endpoint["port"] == "http" and endpoint["path"] == "/metrics"
    elif doc["kind"] == "Cluster":
        assert isinstance(spec["instances"], int) and spec["instances"] >= 1
        assert spec["storage"]["size"]
        for role in spec["managed"]["roles"]:
            assert role["login"] is True and role["passwordSecret"]["name"]
    elif doc["kind"] == "Database":
        assert spec["cluster"]["name"] and spec["name"] and spec["owner"] == spec["name"]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_manifest_validates_against_kubernetes(
    chart: helm.Chart, k8s_validate: Any, variant: str
) -> None:
    docs = render(chart, VARIANTS[variant])
    for doc in docs:
        assert doc["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE, doc["metadata"]
        if (doc["apiVersion"], doc["kind"]) in CRD_KINDS:
            check_crd(doc)
            continue
        try:
            k8s_validate(doc)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {path}: {exc.message}")
