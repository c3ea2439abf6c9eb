"""Rendering helpers for the Helm chart in deploy/helm/steward (helm-python-sdk: the real Helm
library, no helm binary): render to manifests, pick objects, read lint findings; plus the value
variants the chart is tested with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

CHART = Path(__file__).resolve().parents[4] / "deploy" / "helm" / "steward"
RELEASE = "steward"
NAMESPACE = "steward"
KUBE_VERSION = "1.33.0"
# Every service the chart knows (values.schema.json) and those it deploys with the default values.
CHART_SERVICES = ("registry", "issues", "meetings", "scoring", "notify")
DEFAULT_VALUES: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
SERVICES = tuple(s for s in CHART_SERVICES if DEFAULT_VALUES["services"][s]["enabled"])
MISSING_DEPS = "chart directory is missing these dependencies"
# Custom resources kubernetes-validate has no schema for; checked structurally below.
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),  # promtool checks it (tests/deploy/test_monitoring.py)
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("postgresql.cnpg.io/v1", "Database"),
    ("postgresql.cnpg.io/v1", "ScheduledBackup"),
    ("jetstream.nats.io/v1beta2", "Stream"),
    ("jetstream.nats.io/v1beta2", "Consumer"),
}
DIGEST = "sha256:" + "0123456789abcdef" * 4

Manifest = dict[str, Any]
# yaml.safe_load_all, with libyaml's C implementation of the safe loader when available (10x faster).
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def render(chart: helm.Chart, values: dict[str, Any] | None = None, *, name: str = RELEASE) -> list[Manifest]:
    rendered = chart.render(values, name=name, namespace=NAMESPACE, is_install=True)
    docs: list[Manifest] = []
    for path, text in sorted(rendered.items()):
        if not path.endswith((".yaml", ".yml")):
            continue  # NOTES.txt
        docs.extend(doc for doc in yaml.load_all(text, Loader=SAFE_LOADER) if doc)
    return docs


def of_kind(docs: list[Manifest], kind: str) -> list[Manifest]:
    return [d for d in docs if d["kind"] == kind]


def by_name(docs: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {d["metadata"]["name"]: d for d in of_kind(docs, kind)}


def one(docs: list[Manifest], kind: str, name: str) -> Manifest:
    found = by_name(docs, kind)
    assert name in found, f"{kind}/{name} not rendered; have {sorted(found)}"
    return found[name]


def container_env(container: Manifest) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def pod_spec(doc: Manifest) -> Manifest:
    """The pod spec of a Deployment, Job or Pod."""
    return doc["spec"]["template"]["spec"] if doc["kind"] in ("Deployment", "Job") else doc["spec"]


def selects(selector: Manifest, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels and In / NotIn / Exists expressions)."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value, op = labels.get(expr["key"]), expr["operator"]
        if (op == "In" and value not in expr["values"]) or (op == "NotIn" and value in expr["values"]):
            return False
        if op == "Exists" and value is None:
            return False
    return True


def pod_labels(doc: Manifest) -> dict[str, str]:
    return (
        doc["spec"]["template"]["metadata"]["labels"]
        if "template" in doc["spec"]
        else doc["metadata"]["labels"]
    )


def lint_errors(report: dict[str, Any], *, allow_missing_deps: bool = True) -> list[str]:
    """Findings of severity warning (2) or error (3), optionally ignoring absent subcharts."""
    return [
        m["error"]
        for m in report["messages"]
        if m["severity"] >= 2 and not (allow_missing_deps and MISSING_DEPS in m["error"])
    ]


VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "issues-disabled": {"services": {"issues": {"enabled": False}}},
    "service-monitor": {
        "metrics": {
            "serviceMonitor": {"enabled": True},
            "prometheusRule": {"enabled": True},
            "dashboards": {"enabled": True},
        }
    },
    "cnpg": {"postgresql": {"cnpg": {"enabled": True}}},
    "external-db": {
        "postgresql": {
            "external": {
                "urlSecret": {"name": "pg-{service}-url", "key": "dsn"},
                "networkPolicyPeers": [{"ipBlock": {"cidr": "10.20.0.0/16"}}],
            }
        },
        "services": {"registry": {"database": {"existingSecret": "registry-dsn"}}},
    },
    "nats-subchart+otel": {"nats": {"enabled": True}, "otel": {"endpoint": "http://otel-collector:4317"}},
    "no-autoscaling": {
        "services": {s: {"autoscaling": {"enabled": False}, "replicas": 3} for s in CHART_SERVICES}
    },
    "tls+mirror+scheduling": {
        "image": {"registry": "registry.example.gov.cn/"},
        "imagePullSecrets": [{"name": "mirror-pull"}],
        "ingress": {"host": "", "tls": {"enabled": True}},
        "pod": {"nodeSelector": {"steward.gov.cn/pool": "apps"}, "tolerations": [{"operator": "Exists"}]},
        "serviceAccount": {"create": False, "name": "steward-runtime"},
        "migrations": {"enabled": False},
    },
    "everything-off": {"services": {s: {"enabled": False} for s in CHART_SERVICES}},
    # chart operations (docs/deploy.md): backups, credentials as files, digests, NACK streams
    "cnpg-backup+credential-files+digests": {
        "postgresql": {
            "credentialsAsFile": True,
            "cnpg": {
                "enabled": True,
                "backup": {
                    "enabled": True,
                    "barmanObjectStore": {
                        "destinationPath": "s3://steward-backups/pg",
                        "s3Credentials": {
                            "accessKeyId": {"name": "pg-backup", "key": "ACCESS_KEY_ID"},
                            "secretAccessKey": {"name": "pg-backup", "key": "SECRET_ACCESS_KEY"},
                        },
                    },
                },
            },
        },
        "services": {s: {"image": {"digest": DIGEST}} for s in CHART_SERVICES},
        "console": {"image": {"digest": DIGEST}},
    },
    "cnpg-plugin-backup": {
        "postgresql": {"cnpg": {"enabled": True, "backup": {"enabled": True, "method": "plugin"}}}
    },
    "jetstream-provisioned": {
        "nats": {"enabled": True},
        "jetstream": {
            "provision": True,
            "replicas": 3,
            "consumers": [{"name": "notify", "filterSubject": "steward.events.>", "ackWaitSeconds": 60}],
        },
        "pod": {"probes": {"startup": {"grpc": False}}},
    },
}
