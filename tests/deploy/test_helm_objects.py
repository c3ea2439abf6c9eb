"""The Helm chart's rendered objects: hardened, probed Deployments, Services, HPA/PDB, routing,
migration hooks, NetworkPolicies, ServiceMonitor, CloudNativePG, external databases."""

from __future__ import annotations

import copy
from typing import Any

import helm_python as helm
import yaml

from steward.devtools.chart import (
    CHART,
    RELEASE,
    SERVICES,
    VARIANTS,
    by_name,
    container_env,
    of_kind,
    one,
)
from steward.devtools.chart import render as render_all


def render(chart: helm.Chart, values: dict[str, Any] | None = None, **kw: Any) -> list[dict[str, Any]]:
    """The services' objects: the console's (Deployment, Service, PDB, policies, its ``/`` route)
    are checked in test_console_chart.py; the `helm test` objects and the migration Jobs' policy in
    test_chart_operations.py."""
    docs = []
    for doc in render_all(chart, values, **kw):
        component = doc["metadata"].get("labels", {}).get("app.kubernetes.io/component")
        if component in ("console", "helm-test") or (component, doc["kind"]) == ("migrate", "NetworkPolicy"):
            continue
        if doc["kind"] == "Ingress":
            for rule in doc["spec"]["rules"]:
                rule["http"]["paths"] = [
                    p
                    for p in rule["http"]["paths"]
                    if not p["backend"]["service"]["name"].endswith("-console")
                ]
            if not any(rule["http"]["paths"] for rule in doc["spec"]["rules"]):
                continue
        docs.append(doc)
    return docs


# --- rendered objects ----------------------------------------------------------------------------


def test_defaults_render_every_service(chart: helm.Chart) -> None:
    docs = render(chart)
    for kind in ("Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        assert set(by_name(docs, kind)) == {f"{RELEASE}-{s}" for s in SERVICES}, kind
    assert set(by_name(docs, "NetworkPolicy")) == {f"{RELEASE}-{s}" for s in SERVICES}
    assert set(by_name(docs, "Job")) == {f"{RELEASE}-{s}-migrate" for s in SERVICES}
    assert of_kind(docs, "ServiceMonitor") == []  # off by default
    assert of_kind(docs, "Cluster") == []
    sa = one(docs, "ServiceAccount", RELEASE)
    assert sa["automountServiceAccountToken"] is False


def test_deployments_are_hardened_and_probed(chart: helm.Chart) -> None:
    for deployment in of_kind(render(chart), "Deployment"):
        svc = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        assert pod["terminationGracePeriodSeconds"] >= 30
        (container,) = pod["containers"]
        assert container["command"] == ["python", "-m", f"steward.{svc}", "serve"]
        sc = container["securityContext"]
        assert sc["runAsNonRoot"] is True
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert sc["seccompProfile"]["type"] == "RuntimeDefault"
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["startupProbe"]["grpc"] == {"port": 9090}  # grpc.health.v1 (pod.probes.startup.grpc)
        assert "sleep" in " ".join(container["lifecycle"]["preStop"]["exec"]["command"])
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"http": 8080, "grpc": 9090}
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]
        # HPA owns the replica count when autoscaling is on.
        assert "replicas" not in deployment["spec"]


def test_environment_from_configmap_and_secret(chart: helm.Chart) -> None:
    docs = render(chart, {"otel": {"endpoint": "http://otel-collector.monitoring:4317"}})
    deployment = one(docs, "Deployment", f"{RELEASE}-issues")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["envFrom"] == [{"configMapRef": {"name": f"{RELEASE}-issues"}}]
    env = container_env(container)
    assert env["STEWARD_DATABASE_URL"] == {"secretKeyRef": {"name": f"{RELEASE}-issues-db", "key": "url"}}

    data = one(docs, "ConfigMap", f"{RELEASE}-issues")["data"]
    assert data["STEWARD_SERVICE_NAME"] == "issues"
    assert data["STEWARD_HTTP_PORT"] == "8080"
    assert data["STEWARD_GRPC_PORT"] == "9090"
    assert data["STEWARD_HTTP_HOST"] == data["STEWARD_GRPC_HOST"] == "0.0.0.0"
    assert data["STEWARD_REGISTRY_GRPC_TARGET"] == f"{RELEASE}-registry:9090"
    assert data["STEWARD_NATS_URL"].startswith("nats://")
    assert data["STEWARD_OTLP_ENDPOINT"] == "http://otel-collector.monitoring:4317"
    for key in ("STEWARD_JWT_ISSUER", "STEWARD_JWT_AUDIENCE", "STEWARD_JWT_JWKS_URL"):
        assert data[key]
    assert all(isinstance(v, str) for v in data.values())
    assert "STEWARD_OTLP_ENDPOINT" not in one(render(chart), "ConfigMap", f"{RELEASE}-issues")["data"]


def test_registry_target_follows_release_name(chart: helm.Chart) -> None:
    docs = render(chart, name="city")
    data = one(docs, "ConfigMap", "city-issues")["data"]
    assert data["STEWARD_REGISTRY_GRPC_TARGET"] == "city-registry:9090"
    assert "city-registry" in by_name(docs, "Service")


def test_default_image(chart: helm.Chart) -> None:
    pod = one(render(chart), "Deployment", f"{RELEASE}-registry")["spec"]["template"]["spec"]
    assert (
        pod["containers"][0]["image"] == "localhost/steward-registry:0.1.0"
    )  # what `make images` builds (appVersion)


def test_service_ports(chart: helm.Chart) -> None:
    service = one(render(chart), "Service", f"{RELEASE}-registry")
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert ports["http"]["port"] == 8080
    assert ports["grpc"]["port"] == 9090 and ports["grpc"]["appProtocol"] == "grpc"
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "registry"


def test_hpa_and_pdb(chart: helm.Chart) -> None:
    docs = render(chart)
    hpa = one(docs, "HorizontalPodAutoscaler", f"{RELEASE}-notify")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": f"{RELEASE}-notify",
    }
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    pdb = one(docs, "PodDisruptionBudget", f"{RELEASE}-notify")
    assert pdb["apiVersion"] == "policy/v1" and pdb["spec"]["minAvailable"] == 1

    fixed = render(chart, VARIANTS["no-autoscaling"])
    assert of_kind(fixed, "HorizontalPodAutoscaler") == []
    assert all(d["spec"]["replicas"] == 3 for d in of_kind(fixed, "Deployment"))


def test_disabled_service_renders_nothing(chart: helm.Chart) -> None:
    docs = render(chart, VARIANTS["issues-disabled"])
    for doc in docs:
        assert "issues" not in doc["metadata"]["name"], doc["metadata"]
        component = doc["metadata"]["labels"].get("app.kubernetes.io/component")
        assert component not in {"issues", "issues-migrate"}
    paths = [p["path"] for p in one(docs, "Ingress", RELEASE)["spec"]["rules"][0]["http"]["paths"]]
    assert "/v1/matters" not in paths and "/v1/projects" in paths
    assert len(of_kind(docs, "Deployment")) == len(SERVICES) - 1

    nothing = render(chart, VARIANTS["everything-off"])
    assert {d["kind"] for d in nothing} <= {"ServiceAccount"}


def test_ingress_routes_by_path_prefix(chart: helm.Chart) -> None:
    ingress = one(render(chart), "Ingress", RELEASE)
    (rule,) = ingress["spec"]["rules"]
    routes = {p["path"]: p for p in rule["http"]["paths"]}
    project = routes["/v1/projects"]
    assert project["pathType"] == "Prefix"
    assert project["backend"]["service"] == {"name": f"{RELEASE}-registry", "port": {"number": 8080}}
    # The routing table is data in values.yaml; every entry is routed to its service.
    table = yaml.safe_load((CHART / "values.yaml").read_text())["ingress"]["routes"]
    assert "/v1/projects" in table["registry"] and "/v1/matters" in table["issues"]
    for svc, paths in table.items():
        for path in paths if svc in SERVICES else ():
            assert routes[path]["backend"]["service"]["name"] == f"{RELEASE}-{svc}"
    assert len(routes) == sum(len(p) for svc, p in table.items() if svc in SERVICES)


def test_migration_jobs_are_pre_install_hooks(chart: helm.Chart) -> None:
    docs = render(chart)
    for svc in SERVICES:
        job = one(docs, "Job", f"{RELEASE}-{svc}-migrate")
        hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
        assert hooks == ["pre-install", "pre-upgrade"]
        assert job["spec"]["backoffLimit"] == 3
        pod = job["spec"]["template"]["spec"]
        assert pod["restartPolicy"] == "Never"
        (container,) = pod["containers"]
        assert container["command"] == ["python", "-m", f"steward.{svc}", "migrate"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        env = container_env(container)
        # A pre-install hook runs before the release ConfigMap exists: env is inlined.
        assert "envFrom" not in container
        assert env["STEWARD_SERVICE_NAME"] == svc
        assert env["STEWARD_DATABASE_URL"]["secretKeyRef"]["name"] == f"{RELEASE}-{svc}-db"
        # ...and its ServiceAccount is a hook too, created first.
        sa = one(docs, "ServiceAccount", pod["serviceAccountName"])
        assert sa["metadata"]["annotations"]["helm.sh/hook"] == job["metadata"]["annotations"]["helm.sh/hook"]
        assert int(sa["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
            job["metadata"]["annotations"]["helm.sh/hook-weight"]
        )


def test_network_policy_per_service(chart: helm.Chart) -> None:
    docs = render(chart)
    policies = by_name(docs, "NetworkPolicy")
    assert set(policies) == {f"{RELEASE}-{s}" for s in SERVICES}
    for svc in SERVICES:
        spec = policies[f"{RELEASE}-{svc}"]["spec"]
        assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == svc
        assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
        http_rule, grpc_rule = spec["ingress"]
        assert http_rule["ports"] == [{"protocol": "TCP", "port": 8080}]
        assert http_rule["from"][0]["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "ingress-nginx"
        }
        assert grpc_rule["ports"] == [{"protocol": "TCP", "port": 9090}]
        steward_pods = {"app.kubernetes.io/name": "steward", "app.kubernetes.io/instance": RELEASE}
        assert grpc_rule["from"] == [{"podSelector": {"matchLabels": steward_pods}}]
        egress_ports = {p["port"] for rule in spec["egress"] for p in rule["ports"]}
        assert {53, 5432, 4222, 9090, 443} <= egress_ports
        if svc == "notify":
            assert {587, 465} <= egress_ports  # SMTP, webhooks on 443
        else:
            assert not {587, 465} & egress_ports

    off = render(chart, {"networkPolicy": {"enabled": False}})
    assert of_kind(off, "NetworkPolicy") == []


def test_service_monitor(chart: helm.Chart) -> None:
    docs = render(chart, VARIANTS["service-monitor"])
    monitors = by_name(docs, "ServiceMonitor")
    assert set(monitors) == {f"{RELEASE}-{s}" for s in SERVICES}
    monitor = monitors[f"{RELEASE}-notify"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "notify"
    # Prometheus may then reach the http port.
    http_rule = one(docs, "NetworkPolicy", f"{RELEASE}-notify")["spec"]["ingress"][0]
    assert {"kubernetes.io/metadata.name": "monitoring"} in [
        peer["namespaceSelector"]["matchLabels"] for peer in http_rule["from"]
    ]


def test_cloudnativepg_cluster(chart: helm.Chart) -> None:
    values = copy.deepcopy(VARIANTS["cnpg"])
    values["services"] = {"notify": {"enabled": False}}
    docs = render(chart, values)
    (cluster,) = of_kind(docs, "Cluster")
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    enabled = [s for s in SERVICES if s != "notify"]
    roles = {r["name"]: r for r in cluster["spec"]["managed"]["roles"]}
    assert set(roles) == {f"steward_{s}" for s in enabled}
    databases = {d["spec"]["name"]: d for d in of_kind(docs, "Database")}
    assert set(databases) == {f"steward_{s}" for s in enabled}
    secrets = by_name(docs, "Secret")
    for svc in enabled:
        secret = secrets[f"{RELEASE}-{svc}-db"]
        assert secret["type"] == "kubernetes.io/basic-auth"
        assert roles[f"steward_{svc}"]["passwordSecret"]["name"] == secret["metadata"]["name"]
        url = secret["stringData"]["url"]
        assert url.startswith(f"postgresql+asyncpg://steward_{svc}:")
        assert url.endswith(f"@{cluster['metadata']['name']}-rw:5432/steward_{svc}")
        egress = one(docs, "NetworkPolicy", f"{RELEASE}-{svc}")["spec"]["egress"]
        pg_rule = next(r for r in egress if r["ports"][0]["port"] == 5432)
        assert pg_rule["to"] == [
            {"podSelector": {"matchLabels": {"cnpg.io/cluster": cluster["metadata"]["name"]}}}
        ]
    # The database only exists once the release is installed: migrate after install.
    job = one(docs, "Job", f"{RELEASE}-registry-migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"


def test_external_database_secrets(chart: helm.Chart) -> None:
    docs = render(chart, VARIANTS["external-db"])
    assert of_kind(docs, "Secret") == [] and of_kind(docs, "Cluster") == []
    refs = {}
    for deployment in of_kind(docs, "Deployment"):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        ref = container_env(container)["STEWARD_DATABASE_URL"]["secretKeyRef"]
        refs[deployment["metadata"]["labels"]["app.kubernetes.io/component"]] = (ref["name"], ref["key"])
    assert refs["registry"] == ("registry-dsn", "dsn")
    assert refs["issues"] == ("pg-issues-url", "dsn")
    egress = one(docs, "NetworkPolicy", f"{RELEASE}-issues")["spec"]["egress"]
    pg_rule = next(r for r in egress if r["ports"][0]["port"] == 5432)
    assert pg_rule["to"] == [{"ipBlock": {"cidr": "10.20.0.0/16"}}]


def test_nats_subchart_url(chart: helm.Chart) -> None:
    default = one(render(chart), "ConfigMap", f"{RELEASE}-registry")["data"]
    assert default["STEWARD_NATS_URL"] == "nats://nats.nats.svc.cluster.local:4222"
    docs = render(chart, VARIANTS["nats-subchart+otel"])
    data = one(docs, "ConfigMap", f"{RELEASE}-registry")["data"]
    assert data["STEWARD_NATS_URL"] == f"nats://{RELEASE}-nats:4222"
    egress = one(docs, "NetworkPolicy", f"{RELEASE}-registry")["spec"]["egress"]
    nats_rule = next(r for r in egress if r["ports"][0]["port"] == 4222)
    assert nats_rule["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "nats"
    assert any(p["port"] == 4317 for r in egress for p in r["ports"])


def test_image_mirror_and_scheduling(chart: helm.Chart) -> None:
    docs = render(chart, VARIANTS["tls+mirror+scheduling"])
    pod = one(docs, "Deployment", f"{RELEASE}-notify")["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "registry.example.gov.cn/steward-notify:0.1.0"
    assert pod["imagePullSecrets"] == [{"name": "mirror-pull"}]
    assert pod["nodeSelector"] == {"steward.gov.cn/pool": "apps"}
    assert pod["serviceAccountName"] == "steward-runtime"
    assert of_kind(docs, "Job") == [] and of_kind(docs, "ServiceAccount") == []
    assert one(docs, "Ingress", RELEASE)["spec"]["tls"][0]["secretName"] == "steward-tls"


def test_config_change_rolls_pods(chart: helm.Chart) -> None:
    def checksum(values: dict[str, Any] | None) -> str:
        deployment = one(render(chart, values), "Deployment", f"{RELEASE}-registry")
        return str(deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert checksum(None) != checksum({"config": {"logLevel": "DEBUG"}})
