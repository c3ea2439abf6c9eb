"""Chart operations (docs/deploy.md §11): the migration Jobs' NetworkPolicy, database credentials
as mounted files, image digests, CloudNativePG backups and JetStream streams provisioned by NACK
(`helm test`, the gRPC startup probe and Chart.lock: test_chart_lifecycle.py).

Where the chart hands something to the code (the mounted URL, the stream settings), the test runs
the kit's real settings and bus against what the chart renders."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from steward.devtools.chart import (
    CHART,
    CHART_SERVICES,
    DIGEST,
    RELEASE,
    SERVICES,
    VARIANTS,
    by_name,
    container_env,
    of_kind,
    one,
    pod_labels,
    pod_spec,
    render,
    selects,
)
from steward.kit.bus import DLQ_STREAM, EventBus
from steward.kit.settings import ServiceSettings

DB_FILE = "/var/run/secrets/steward/database/url"


def rejected(chart: helm.Chart, values: dict[str, Any], needle: str) -> None:
    with pytest.raises(helm.HelmValuesError) as error:
        render(chart, values)
    assert needle in str(error.value)


# --- 1. the migration Jobs reach only PostgreSQL and DNS ------------------------------------------


def test_migration_jobs_reach_only_postgresql_and_dns(chart: helm.Chart) -> None:
    docs = render(chart)
    policy = one(docs, "NetworkPolicy", f"{RELEASE}-migrate")
    jobs = of_kind(docs, "Job")
    assert len(jobs) == len(SERVICES)
    # created with the Jobs' hooks, before them, so no migration runs unconfined
    hooks = {job["metadata"]["annotations"]["helm.sh/hook"] for job in jobs}
    assert hooks == {policy["metadata"]["annotations"]["helm.sh/hook"]}
    assert int(policy["metadata"]["annotations"]["helm.sh/hook-weight"]) < min(
        int(job["metadata"]["annotations"]["helm.sh/hook-weight"]) for job in jobs
    )
    spec = policy["spec"]
    for job in jobs:
        assert selects(spec["podSelector"], pod_labels(job)), job["metadata"]["name"]
    for deployment in of_kind(docs, "Deployment"):  # the services have their own policies
        assert not selects(spec["podSelector"], pod_labels(deployment))
    for service_policy in of_kind(docs, "NetworkPolicy"):
        if service_policy is not policy and service_policy["metadata"]["name"] != f"{RELEASE}-test-readyz":
            assert not any(selects(service_policy["spec"]["podSelector"], pod_labels(j)) for j in jobs)

    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    assert spec.get("ingress", []) == []  # nothing connects to a migration
    ports = [{(p["protocol"], p["port"]) for p in rule["ports"]} for rule in spec["egress"]]
    assert ports == [{("UDP", 53), ("TCP", 53)}, {("TCP", 5432)}]
    assert spec["egress"][0]["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}


def test_migration_policy_follows_the_database(chart: helm.Chart) -> None:
    cnpg = one(render(chart, VARIANTS["cnpg"]), "NetworkPolicy", f"{RELEASE}-migrate")
    assert cnpg["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"
    assert cnpg["spec"]["egress"][1]["to"] == [
        {"podSelector": {"matchLabels": {"cnpg.io/cluster": f"{RELEASE}-pg"}}}
    ]
    external = one(render(chart, VARIANTS["external-db"]), "NetworkPolicy", f"{RELEASE}-migrate")
    assert external["spec"]["egress"][1]["to"] == [{"ipBlock": {"cidr": "10.20.0.0/16"}}]

    one_service = render(chart, {"services": {s: {"enabled": s == "issues"} for s in CHART_SERVICES}})
    expr = one(one_service, "NetworkPolicy", f"{RELEASE}-migrate")["spec"]["podSelector"]["matchExpressions"]
    assert {"key": "app.kubernetes.io/component", "operator": "In", "values": ["issues-migrate"]} in expr
    for off in (
        {"networkPolicy": {"enabled": False}},
        {"migrations": {"enabled": False}},
        VARIANTS["everything-off"],
    ):
        assert f"{RELEASE}-migrate" not in by_name(render(chart, off), "NetworkPolicy"), off


# --- 2. database credentials as mounted files -----------------------------------------------------


def test_database_credentials_as_a_mounted_file(chart: helm.Chart) -> None:
    plain = render(chart)
    for doc in of_kind(plain, "Deployment") + of_kind(plain, "Job"):
        if doc["metadata"]["labels"]["app.kubernetes.io/component"] == "console":
            continue
        assert "STEWARD_DATABASE_URL" in container_env(pod_spec(doc)["containers"][0])
        assert "database" not in {v["name"] for v in pod_spec(doc)["volumes"]}

    docs = render(chart, {"postgresql": {"credentialsAsFile": True}})
    deployments, jobs = by_name(docs, "Deployment"), by_name(docs, "Job")
    for svc in SERVICES:
        for doc in (deployments[f"{RELEASE}-{svc}"], jobs[f"{RELEASE}-{svc}-migrate"]):
            spec = pod_spec(doc)
            (container,) = spec["containers"]
            env = container_env(container)
            assert "STEWARD_DATABASE_URL" not in env, doc["metadata"]["name"]
            if doc["kind"] == "Job":
                assert env["STEWARD_DATABASE_URL_FILE"] == DB_FILE
            else:
                config = one(docs, "ConfigMap", container["envFrom"][0]["configMapRef"]["name"])
                assert config["data"]["STEWARD_DATABASE_URL_FILE"] == DB_FILE
            mount = next(m for m in container["volumeMounts"] if m["name"] == "database")
            assert mount["mountPath"] == os.path.dirname(DB_FILE) and mount["readOnly"] is True
            volume = next(v for v in spec["volumes"] if v["name"] == "database")["secret"]
            assert volume["secretName"] == f"{RELEASE}-{svc}-db"
            assert volume["items"] == [{"key": "url", "path": os.path.basename(DB_FILE)}]
            assert volume["defaultMode"] == 0o440


def test_the_services_read_the_mounted_url(
    chart: helm.Chart, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kit's settings, given the environment the chart renders and the Secret's key as the
    mounted file, connect to the Secret's URL."""
    docs = render(chart, {"postgresql": {"credentialsAsFile": True}})
    data = one(docs, "ConfigMap", f"{RELEASE}-issues")["data"]
    mounted = tmp_path / os.path.basename(data["STEWARD_DATABASE_URL_FILE"])
    mounted.write_text(
        "postgresql+asyncpg://steward_issues:pw@steward-pg-rw:5432/steward_issues", encoding="utf-8"
    )
    for key in [k for k in os.environ if k.startswith("STEWARD_")]:
        monkeypatch.delenv(key)
    for key, value in data.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("STEWARD_DATABASE_URL_FILE", str(mounted))
    assert ServiceSettings().database_url.endswith("@steward-pg-rw:5432/steward_issues")


# --- 3. image digests -----------------------------------------------------------------------------


def test_image_digest_replaces_the_tag(chart: helm.Chart) -> None:
    docs = render(chart, VARIANTS["cnpg-backup+credential-files+digests"])
    images = {
        c["image"]
        for doc in of_kind(docs, "Deployment") + of_kind(docs, "Job") + of_kind(docs, "Pod")
        for c in pod_spec(doc)["containers"]
    }
    assert images == {f"localhost/steward-{s}@{DIGEST}" for s in (*SERVICES, "console")}

    one_digest = render(chart, {"services": {"issues": {"image": {"digest": DIGEST, "tag": "ignored"}}}})
    deployments = by_name(one_digest, "Deployment")
    assert deployments[f"{RELEASE}-issues"]["spec"]["template"]["spec"]["containers"][0]["image"] == (
        f"localhost/steward-issues@{DIGEST}"
    )
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    assert deployments[f"{RELEASE}-registry"]["spec"]["template"]["spec"]["containers"][0]["image"] == (
        f"localhost/steward-registry:{app_version}"
    )
    rejected(chart, {"services": {"issues": {"image": {"digest": "sha256:abc"}}}}, "digest")
    rejected(chart, {"console": {"image": {"digest": "latest"}}}, "digest")


# --- 4. CloudNativePG backups ---------------------------------------------------------------------


def test_scheduled_backup_to_an_object_store(chart: helm.Chart) -> None:
    assert of_kind(render(chart, VARIANTS["cnpg"]), "ScheduledBackup") == []
    assert "backup" not in of_kind(render(chart, VARIANTS["cnpg"]), "Cluster")[0]["spec"]
    # backups of an external database are its operator's business
    store_only = {"enabled": True, "barmanObjectStore": {"destinationPath": "s3://b"}}
    assert of_kind(render(chart, {"postgresql": {"cnpg": {"backup": store_only}}}), "ScheduledBackup") == []

    docs = render(chart, VARIANTS["cnpg-backup+credential-files+digests"])
    cluster = one(docs, "Cluster", f"{RELEASE}-pg")
    assert cluster["spec"]["backup"]["retentionPolicy"] == "30d"
    store = cluster["spec"]["backup"]["barmanObjectStore"]
    assert store["destinationPath"] == "s3://steward-backups/pg"
    assert store["s3Credentials"]["accessKeyId"] == {"name": "pg-backup", "key": "ACCESS_KEY_ID"}
    assert "plugins" not in cluster["spec"]
    backup = one(docs, "ScheduledBackup", f"{RELEASE}-pg-backup")["spec"]
    assert backup == {
        "schedule": "0 0 2 * * *",
        "backupOwnerReference": "self",
        "immediate": False,
        "cluster": {"name": f"{RELEASE}-pg"},
        "method": "barmanObjectStore",
    }


def test_scheduled_backup_through_the_barman_cloud_plugin(chart: helm.Chart) -> None:
    values = {
        "postgresql": {
            "cnpg": {
                "enabled": True,
                "backup": {
                    "enabled": True,
                    "method": "plugin",
                    "schedule": "0 30 1 * * 0",
                    "backupOwnerReference": "cluster",
                    "plugin": {"parameters": {"barmanObjectName": "pg-store"}},
                },
            }
        }
    }
    docs = render(chart, values)
    cluster = one(docs, "Cluster", f"{RELEASE}-pg")["spec"]
    assert "backup" not in cluster
    assert cluster["plugins"] == [
        {
            "name": "barman-cloud.cloudnative-pg.io",
            "isWALArchiver": True,
            "parameters": {"barmanObjectName": "pg-store"},
        }
    ]
    backup = one(docs, "ScheduledBackup", f"{RELEASE}-pg-backup")["spec"]
    assert backup["method"] == "plugin"
    assert backup["pluginConfiguration"] == {"name": "barman-cloud.cloudnative-pg.io"}
    assert backup["schedule"] == "0 30 1 * * 0" and backup["backupOwnerReference"] == "cluster"


def test_backup_values_are_checked(chart: helm.Chart) -> None:
    cnpg = {"enabled": True}
    rejected(chart, {"postgresql": {"cnpg": {**cnpg, "backup": {"enabled": True}}}}, "destinationPath")
    bad_method = {"enabled": True, "method": "pg_dump", "barmanObjectStore": {"destinationPath": "s3://b"}}
    rejected(chart, {"postgresql": {"cnpg": {**cnpg, "backup": bad_method}}}, "method")
    five_fields = {
        "enabled": True,
        "schedule": "0 2 * * *",
        "barmanObjectStore": {"destinationPath": "s3://b"},
    }
    rejected(chart, {"postgresql": {"cnpg": {**cnpg, "backup": five_fields}}}, "schedule")
    owner = {
        "enabled": True,
        "backupOwnerReference": "me",
        "barmanObjectStore": {"destinationPath": "s3://b"},
    }
    rejected(chart, {"postgresql": {"cnpg": {**cnpg, "backup": owner}}}, "backupOwnerReference")


# --- 5. JetStream streams and consumers provisioned by NACK ---------------------------------------


def test_streams_are_declared_by_the_services_by_default(chart: helm.Chart) -> None:
    docs = render(chart)
    assert of_kind(docs, "Stream") == [] and of_kind(docs, "Consumer") == []
    for svc in SERVICES:
        assert "STEWARD_EVENTS_STREAMS_MANAGED" not in one(docs, "ConfigMap", f"{RELEASE}-{svc}")["data"]


def test_provisioned_streams_match_what_the_services_expect(
    chart: helm.Chart, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Stream objects NACK creates have the shape the kit's bus checks (it only looks them up)."""
    docs = render(chart, VARIANTS["jetstream-provisioned"])
    streams = {s["spec"]["name"]: s for s in of_kind(docs, "Stream")}
    assert set(streams) == {"STEWARD_EVENTS", DLQ_STREAM}
    for stream in streams.values():
        assert stream["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert stream["spec"]["preventDelete"] is True
        assert stream["spec"]["servers"] == [f"nats://{RELEASE}-nats:4222"]
    data = one(docs, "ConfigMap", f"{RELEASE}-notify")["data"]
    assert data["STEWARD_EVENTS_STREAMS_MANAGED"] == "true"
    assert data["STEWARD_EVENTS_STREAM_REPLICAS"] == "3"

    for key in [k for k in os.environ if k.startswith("STEWARD_")]:
        monkeypatch.delenv(key)
    for key, value in data.items():
        monkeypatch.setenv(key, value)
    settings = ServiceSettings()
    assert settings.events_streams_managed is True
    for config in EventBus(settings).stream_configs():
        spec = streams[config.name or ""]["spec"]
        assert spec["subjects"] == config.subjects
        assert spec["replicas"] == config.num_replicas
        assert spec["storage"] == "file"
        assert parse_duration(spec["duplicateWindow"]) == config.duplicate_window
        assert parse_duration(spec["maxAge"]) == config.max_age
        assert spec.get("maxBytes") == config.max_bytes

    (consumer,) = of_kind(docs, "Consumer")
    assert consumer["spec"] == {
        "streamName": "STEWARD_EVENTS",
        "durableName": "notify",
        "filterSubject": "steward.events.>",
        "deliverPolicy": "all",
        "ackPolicy": "explicit",
        "ackWait": "60s",
        "maxDeliver": -1,
        "servers": [f"nats://{RELEASE}-nats:4222"],
    }


def test_provisioning_through_a_nack_account(chart: helm.Chart) -> None:
    values = {"jetstream": {"provision": True, "account": "steward", "events": {"maxAgeDays": 7}}}
    docs = render(chart, values)
    for doc in of_kind(docs, "Stream"):
        assert doc["spec"]["account"] == "steward" and "servers" not in doc["spec"]
    assert by_name(docs, "Stream")[f"{RELEASE}-events"]["spec"]["maxAge"] == "168h"
    assert one(docs, "ConfigMap", f"{RELEASE}-issues")["data"]["STEWARD_EVENTS_MAX_AGE_DAYS"] == "7"
    rejected(chart, {"jetstream": {"provision": True, "replicas": 7}}, "replicas")
    rejected(
        chart, {"jetstream": {"consumers": [{"name": "x", "filterSubject": "other.>"}]}}, "filterSubject"
    )


def parse_duration(text: str) -> float:
    match = re.fullmatch(r"(\d+)([hms])", text)
    assert match, text
    return int(match[1]) * {"h": 3600, "m": 60, "s": 1}[match[2]]
