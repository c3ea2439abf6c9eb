"""The web console in the chart: its Deployment (hardened, probed, the services' URLs, the session
secret from a Secret, OIDC settings from values), Service, PDB, NetworkPolicies and its ``/`` route
(the longest prefix wins, so every ``/v1/...`` path still reaches its service)."""

from __future__ import annotations

import helm_python as helm

from steward.devtools.chart import RELEASE, SERVICES, by_name, container_env, of_kind, one, render

CONSOLE = f"{RELEASE}-console"


def _container(docs: list[dict]) -> dict:
    (container,) = one(docs, "Deployment", CONSOLE)["spec"]["template"]["spec"]["containers"]
    return container


def test_console_deployment_is_hardened_probed_and_configured(chart: helm.Chart) -> None:
    docs = render(chart)
    deployment = one(docs, "Deployment", CONSOLE)
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 2
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = _container(docs)
    assert container["image"].endswith("steward-console:" + container["image"].rsplit(":", 1)[1])
    assert container["command"] == ["python", "-m", "steward.console", "serve"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": 8080}
    assert "STEWARD_DATABASE_URL" not in container_env(container)  # no database of its own

    env = container_env(container)
    assert env["STEWARD_SESSION_SECRET"]["secretKeyRef"] == {
        "name": f"{RELEASE}-console-session",
        "key": "secret",
    }
    assert env["STEWARD_OIDC_CLIENT_SECRET"]["secretKeyRef"] == {
        "name": f"{RELEASE}-console-oidc",
        "key": "client-secret",
    }
    config = one(docs, "ConfigMap", CONSOLE)["data"]
    for svc in SERVICES:
        assert config[f"STEWARD_{svc.upper()}_URL"] == f"http://{RELEASE}-{svc}:8080"
    assert config["STEWARD_ENVIRONMENT"] == "production"
    assert config["STEWARD_OIDC_METADATA_URL"].endswith("/.well-known/openid-configuration")
    assert config["STEWARD_OIDC_CLIENT_ID"] == "steward-console"
    assert config["STEWARD_PUBLIC_URL"] == "http://steward.example.gov.cn"
    assert config["STEWARD_JWT_AUDIENCE"] == "steward"
    assert not any("SECRET" in key for key in config)  # secrets never in the ConfigMap

    service = one(docs, "Service", CONSOLE)
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP", "appProtocol": "http"}
    ]
    assert one(docs, "PodDisruptionBudget", CONSOLE)["spec"]["minAvailable"] == 1


def test_console_settings_follow_the_values(chart: helm.Chart) -> None:
    values = {
        "ingress": {"tls": {"enabled": True}},
        "services": {"scoring": {"enabled": False}},
        "console": {
            "oidc": {"clientId": "gov-portal", "clientSecret": {"existingSecret": ""}},
            "sessionSecret": {"existingSecret": "my-session", "key": "k"},
            "env": {"STEWARD_API_TIMEOUT_SECONDS": 5},
        },
    }
    docs = render(chart, values)
    config = one(docs, "ConfigMap", CONSOLE)["data"]
    assert config["STEWARD_PUBLIC_URL"] == "https://steward.example.gov.cn"
    assert config["STEWARD_OIDC_CLIENT_ID"] == "gov-portal"
    assert config["STEWARD_API_TIMEOUT_SECONDS"] == "5"
    assert "STEWARD_SCORING_URL" not in config  # disabled services' pages are not offered
    env = container_env(_container(docs))
    assert env["STEWARD_SESSION_SECRET"]["secretKeyRef"] == {"name": "my-session", "key": "k"}
    assert "STEWARD_OIDC_CLIENT_SECRET" not in env  # a public client (PKCE only)


def test_console_is_routed_at_the_root_and_services_keep_their_prefixes(chart: helm.Chart) -> None:
    (rule,) = one(render(chart), "Ingress", RELEASE)["spec"]["rules"]
    routes = {p["path"]: p["backend"]["service"] for p in rule["http"]["paths"]}
    assert routes["/"] == {"name": CONSOLE, "port": {"number": 8080}}
    assert routes["/v1/scoring/surveys/answer"]["name"] == CONSOLE  # the survey page of scoring's links
    assert routes["/v1/scoring"]["name"] == f"{RELEASE}-scoring"
    assert routes["/v1/projects"]["name"] == f"{RELEASE}-registry"
    # the project spreadsheet import (8 MiB) passes ingress-nginx's default 1m body limit
    annotations = one(render(chart), "Ingress", RELEASE)["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "9m"
    off = render(chart, {"console": {"enabled": False}})
    (rule,) = one(off, "Ingress", RELEASE)["spec"]["rules"]
    assert "/" not in {p["path"] for p in rule["http"]["paths"]}
    assert not [d for d in off if d["metadata"]["name"].startswith(CONSOLE)]


def test_console_network_policies(chart: helm.Chart) -> None:
    policies = by_name(render(chart), "NetworkPolicy")
    own = policies[CONSOLE]["spec"]
    assert own["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "console"
    (inbound,) = own["ingress"]
    assert inbound["ports"] == [{"protocol": "TCP", "port": 8080}]
    assert inbound["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "ingress-nginx"
    }
    egress_ports = {p["port"] for rule in own["egress"] for p in rule["ports"]}
    assert {53, 8080, 443} <= egress_ports and 5432 not in egress_ports
    # the services accept the console's pods on their REST port
    into = policies[f"{RELEASE}-console-to-services"]["spec"]
    (selector,) = [
        e for e in into["podSelector"]["matchExpressions"] if e["key"] == "app.kubernetes.io/component"
    ]
    assert sorted(selector["values"]) == sorted(SERVICES)
    (allow,) = into["ingress"]
    assert allow["from"] == [
        {
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "steward",
                    "app.kubernetes.io/instance": RELEASE,
                    "app.kubernetes.io/component": "console",
                }
            }
        }
    ]
    assert of_kind(render(chart, {"networkPolicy": {"enabled": False}}), "NetworkPolicy") == []
