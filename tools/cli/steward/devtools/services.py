"""The platform's services as the dev runner sees them.

Each service module ``steward.<name>`` supports ``python -m steward.<name> migrate|serve|seed`` and
reads its configuration from ``STEWARD_*`` environment variables (see :func:`service_env`).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from steward.devtools.infra import free_port, port_is_free

__all__ = ["SERVICES", "ServiceSpec", "assign_ports", "available_services", "service_env", "service_urls"]


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    module: str
    http_port: int
    grpc_port: int
    database: str

    def is_available(self) -> bool:
        """True when the service's package is installed and ``python -m <module>`` can run."""
        try:
            spec = importlib.util.find_spec(self.module)
        except (ImportError, ValueError):
            return False
        if spec is None:
            return False
        if spec.submodule_search_locations is None:  # a plain module
            return True
        return any((Path(loc) / "__main__.py").exists() for loc in spec.submodule_search_locations)

    def with_ports(self, http_port: int, grpc_port: int) -> ServiceSpec:
        return ServiceSpec(self.name, self.module, http_port, grpc_port, self.database)


SERVICES: list[ServiceSpec] = [
    ServiceSpec("registry", "steward.registry", 8101, 9101, "steward_registry"),
    ServiceSpec("issues", "steward.issues", 8102, 9102, "steward_issues"),
    ServiceSpec("meetings", "steward.meetings", 8103, 9103, "steward_meetings"),
    ServiceSpec("scoring", "steward.scoring", 8104, 9104, "steward_scoring"),
    ServiceSpec("notify", "steward.notify", 8105, 9105, "steward_notify"),
    # the web console (工作台): REST of the others via STEWARD_<SERVICE>_URL; no gRPC, no database
    ServiceSpec("console", "steward.console", 8100, 0, ""),
]


def available_services(specs: list[ServiceSpec] | None = None) -> list[ServiceSpec]:
    """The services whose module is importable, in start order."""
    return [spec for spec in (SERVICES if specs is None else specs) if spec.is_available()]


def assign_ports(specs: list[ServiceSpec]) -> list[ServiceSpec]:
    """Keep each default port when it is free, otherwise pick a free one."""
    taken: set[int] = set()

    def pick(port: int) -> int:
        if port not in taken and port_is_free(port):
            taken.add(port)
            return port
        while True:
            candidate = free_port()
            if candidate not in taken:
                taken.add(candidate)
                return candidate

    return [
        spec.with_ports(pick(spec.http_port), pick(spec.grpc_port) if spec.grpc_port else 0) for spec in specs
    ]


def service_urls(specs: list[ServiceSpec]) -> dict[str, str]:
    """``STEWARD_<SERVICE>_URL`` for every service's REST base (the console calls them)."""
    return {f"STEWARD_{spec.name.upper()}_URL": f"http://127.0.0.1:{spec.http_port}" for spec in specs}


def service_env(
    spec: ServiceSpec,
    *,
    database_url: str,
    nats_url: str,
    jwt_secret: str,
    registry_grpc_target: str,
    base: dict[str, str] | None = None,
) -> dict[str, str]:
    """Environment for ``python -m <spec.module> <command>``."""
    env = dict(base or {})
    if spec.name == "console":
        env.setdefault("STEWARD_PUBLIC_URL", f"http://127.0.0.1:{spec.http_port}")
    env.update(
        STEWARD_SERVICE_NAME=spec.name,
        STEWARD_DATABASE_URL=database_url,
        STEWARD_NATS_URL=nats_url,
        STEWARD_HTTP_PORT=str(spec.http_port),
        STEWARD_GRPC_PORT=str(spec.grpc_port),
        STEWARD_JWT_DEV_SECRET=jwt_secret,
        STEWARD_REGISTRY_GRPC_TARGET=registry_grpc_target,
        PYTHONUNBUFFERED="1",
    )
    if env.get("STEWARD_ENVIRONMENT", "dev") == "dev":
        # Dev mode: webhooks/robots may point at a receiver on this machine (http://127.0.0.1:…);
        # production keeps https only and refuses loopback/private addresses (docs/notify.md §2).
        for key, value in DEV_LOOPBACK_WEBHOOKS.items():
            env.setdefault(key, value)
    return env


DEV_LOOPBACK_WEBHOOKS = {
    "STEWARD_WEBHOOK_ALLOW_HTTP": "true",
    "STEWARD_WEBHOOK_ALLOW_HOSTS": "127.0.0.1,localhost,::1",
}
