"""The chart's side of issue 14: /metrics behind a token the ServiceMonitor presents (point 11) and
the keys that seal stored secrets (point 12), both from Secrets named in the values."""

from __future__ import annotations

import helm_python as helm

from steward.devtools.chart import RELEASE, SERVICES, by_name, container_env, render


def test_metrics_token_reaches_services_and_service_monitor(chart: helm.Chart) -> None:
    plain = render(chart, {"metrics": {"serviceMonitor": {"enabled": True}}})
    monitor = by_name(plain, "ServiceMonitor")[f"{RELEASE}-registry"]
    assert "authorization" not in monitor["spec"]["endpoints"][0]
    for dep in by_name(plain, "Deployment").values():
        assert "STEWARD_METRICS_TOKEN" not in container_env(dep["spec"]["template"]["spec"]["containers"][0])

    values = {
        "metrics": {"serviceMonitor": {"enabled": True}, "token": {"existingSecret": "steward-metrics"}}
    }
    docs = render(chart, values)
    ref = {"name": "steward-metrics", "key": "token"}
    for svc in SERVICES:
        endpoint = by_name(docs, "ServiceMonitor")[f"{RELEASE}-{svc}"]["spec"]["endpoints"][0]
        assert endpoint["authorization"] == {"type": "Bearer", "credentials": ref}
        container = by_name(docs, "Deployment")[f"{RELEASE}-{svc}"]["spec"]["template"]["spec"]["containers"][
            0
        ]
        assert container_env(container)["STEWARD_METRICS_TOKEN"] == {"secretKeyRef": ref}


def test_secrets_keys_from_a_secret(chart: helm.Chart) -> None:
    docs = render(chart, {"secretsKeys": {"existingSecret": "steward-sealing", "key": "keys"}})
    container = by_name(docs, "Deployment")[f"{RELEASE}-notify"]["spec"]["template"]["spec"]["containers"][0]
    assert container_env(container)["STEWARD_SECRETS_KEYS"] == {
        "secretKeyRef": {"name": "steward-sealing", "key": "keys"}
    }
