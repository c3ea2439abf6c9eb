"""The chart gives every service what it needs to get its own token (OAuth2 client credentials):
the client id from a Secret, the client secret as a mounted file, the JWKS bounds; never a static
service token. tests/auth/ starts services with this environment against a local IdP."""

from __future__ import annotations

import helm_python as helm

from steward.devtools.chart import RELEASE, SERVICES, by_name, container_env, of_kind, one, render

SECRET_DIR = "/var/run/secrets/steward/service-client"


def test_every_service_gets_client_credentials(chart: helm.Chart) -> None:
    docs = render(chart)
    assert of_kind(docs, "Secret") == []  # created before installing by default
    for svc in SERVICES:
        deployment = one(docs, "Deployment", f"{RELEASE}-{svc}")
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        env = container_env(container)
        assert env["STEWARD_SERVICE_CLIENT_ID"] == {
            "secretKeyRef": {"name": f"{RELEASE}-service-client", "key": "client-id"}
        }
        assert {"name": "service-client", "mountPath": SECRET_DIR, "readOnly": True} in container[
            "volumeMounts"
        ]
        volume = next(v for v in pod["volumes"] if v["name"] == "service-client")
        assert volume["secret"]["secretName"] == f"{RELEASE}-service-client"
        assert volume["secret"]["items"] == [{"key": "client-secret", "path": "client-secret"}]
        data = one(docs, "ConfigMap", f"{RELEASE}-{svc}")["data"]
        assert data["STEWARD_SERVICE_CLIENT_SECRET_FILE"] == f"{SECRET_DIR}/client-secret"
        assert data["STEWARD_JWT_JWKS_MAX_AGE_SECONDS"] == "300"
        assert data["STEWARD_JWT_JWKS_MIN_REFETCH_SECONDS"] == "1"
        assert data["STEWARD_SERVICE_TOKEN_REFRESH_RATIO"] == "0.8"
        assert "STEWARD_SERVICE_TOKEN_URL" not in data  # OIDC discovery at the issuer
        assert "STEWARD_SERVICE_TOKEN" not in data and "STEWARD_SERVICE_TOKEN" not in env


def test_token_endpoint_scope_and_per_service_clients(chart: helm.Chart) -> None:
    docs = render(
        chart,
        {
            "auth": {
                "serviceClient": {
                    "tokenUrl": "https://sso.example.gov.cn/realms/steward/protocol/openid-connect/token",
                    "scope": "steward-services",
                    "secret": {
                        "name": "{release}-{service}-client",
                        "create": True,
                        "clientId": "steward-svc",
                        "clientSecret": "not-a-real-secret",
                    },
                }
            }
        },
    )
    secrets = by_name(docs, "Secret")
    assert set(secrets) == {f"{RELEASE}-{svc}-client" for svc in SERVICES}
    assert secrets[f"{RELEASE}-issues-client"]["stringData"] == {
        "client-id": "steward-svc",
        "client-secret": "not-a-real-secret",
    }
    data = one(docs, "ConfigMap", f"{RELEASE}-issues")["data"]
    assert data["STEWARD_SERVICE_TOKEN_URL"].endswith("/openid-connect/token")
    assert data["STEWARD_SERVICE_TOKEN_SCOPE"] == "steward-services"
    (container,) = one(docs, "Deployment", f"{RELEASE}-issues")["spec"]["template"]["spec"]["containers"]
    assert (
        container_env(container)["STEWARD_SERVICE_CLIENT_ID"]["secretKeyRef"]["name"]
        == f"{RELEASE}-issues-client"
    )
