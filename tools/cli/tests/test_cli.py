"""The `steward` CLI: dev tokens, dev secret, service specs."""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from typer.testing import CliRunner

from steward.devtools import cli
from steward.devtools.services import SERVICES, ServiceSpec, assign_ports, available_services, service_env

runner = CliRunner()


def _fake_minter(calls: list[dict[str, Any]]) -> Callable[..., str]:
    def mint_dev_token(
        *, secret: str, subject: str, tenant: str, roles: list[str], unit: str | None, ttl_seconds: int
    ) -> str:
        calls.append({"subject": subject, "tenant": tenant, "roles": roles, "unit": unit, "ttl": ttl_seconds})
        now = int(time.time())
        claims = {"sub": subject, "tenant": tenant, "roles": roles, "unit": unit, "iat": now}
        claims["exp"] = now + ttl_seconds
        return jwt.encode(claims, secret, algorithm="HS256")

    return mint_dev_token


def _kit_minter_available() -> bool:
    try:
        if importlib.util.find_spec("steward.kit.auth") is None:
            return False
    except ImportError:
        return False
    from steward.kit import auth

    return hasattr(auth, "mint_dev_token")


def test_token_with_secret_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(cli, "_mint_dev_token", lambda: _fake_minter(calls))
    monkeypatch.setenv("STEWARD_JWT_DEV_SECRET", "s3cret-for-tests-0123456789abcdef")
    args = ["token", "--tenant", "210100", "--role", "platform_admin", "--role", "unit_officer"]
    result = runner.invoke(cli.app, [*args, "--unit", "u-1", "--sub", "p-9", "--ttl", "600"])
    assert result.exit_code == 0, result.output
    claims = jwt.decode(result.output.strip(), "s3cret-for-tests-0123456789abcdef", algorithms=["HS256"])
    assert claims["sub"] == "p-9"
    assert claims["tenant"] == "210100"
    assert claims["roles"] == ["platform_admin", "unit_officer"]
    roles = ["platform_admin", "unit_officer"]
    assert calls == [{"subject": "p-9", "tenant": "210100", "roles": roles, "unit": "u-1", "ttl": 600}]


def test_token_secret_from_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(cli, "_mint_dev_token", lambda: _fake_minter([]))
    monkeypatch.delenv("STEWARD_JWT_DEV_SECRET", raising=False)
    data_dir = tmp_path / "dev"
    args = ["token", "--tenant", "210100", "--role", "x", "--data-dir", str(data_dir)]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    secret = (data_dir / "dev-secret").read_text().strip()
    assert len(secret) >= 32
    assert cli.ensure_dev_secret(data_dir) == secret  # stable once generated
    claims = jwt.decode(result.output.strip(), secret, algorithms=["HS256"])
    assert claims["tenant"] == "210100" and claims["sub"] == "dev-user"


@pytest.mark.skipif(not _kit_minter_available(), reason="steward.kit.auth.mint_dev_token not written yet")
def test_token_with_real_kit_minter(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "real-kit-secret-0123456789abcdef0123456789"
    monkeypatch.setenv("STEWARD_JWT_DEV_SECRET", secret)
    args = ["token", "--tenant", "210100", "--role", "platform_admin", "--sub", "p-1"]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    algorithm = jwt.get_unverified_header(token)["alg"]
    claims = jwt.decode(token, secret, algorithms=[algorithm], options={"verify_aud": False})
    assert claims["sub"] == "p-1"
    assert "210100" in json.dumps(claims)
    assert "platform_admin" in json.dumps(claims)


@pytest.mark.skipif(not _kit_minter_available(), reason="steward.kit.auth.mint_dev_token not written yet")
def test_token_unknown_role_is_a_clean_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEWARD_JWT_DEV_SECRET", "real-kit-secret-0123456789abcdef0123456789")
    result = runner.invoke(cli.app, ["token", "--tenant", "210100", "--role", "no_such_role_xyz"])
    assert result.exit_code == 2
    assert "no_such_role_xyz" in result.output


def test_help_lists_commands() -> None:
    result = runner.invoke(cli.app, ["--help"])
    assert result.exit_code == 0
    assert "token" in result.output and "dev" in result.output
    result = runner.invoke(cli.app, ["dev", "--help"])
    assert result.exit_code == 0
    assert "up" in result.output and "infra" in result.output


def test_service_specs() -> None:
    names = [s.name for s in SERVICES]
    assert names[0] == "registry"
    registry = SERVICES[0]
    assert (registry.module, registry.http_port, registry.grpc_port, registry.database) == (
        "steward.registry",
        8101,
        9101,
        "steward_registry",
    )
    ghost = ServiceSpec("ghost", "steward.no_such_service", 1, 2, "ghost")
    assert available_services([ghost]) == []
    assert all(spec.is_available() for spec in available_services())


def test_assign_ports_avoids_taken_and_duplicate_ports() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = sock.getsockname()[1]
        specs = [ServiceSpec("a", "m", taken, taken, "d"), ServiceSpec("b", "m", 8199, 8199, "d")]
        assigned = assign_ports(specs)
    ports = [p for s in assigned for p in (s.http_port, s.grpc_port)]
    assert taken not in ports
    assert len(set(ports)) == 4


def test_service_env() -> None:
    env = service_env(
        SERVICES[0],
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/steward_registry",
        nats_url="nats://127.0.0.1:2",
        jwt_secret="s",
        registry_grpc_target="127.0.0.1:9101",
        base={"PATH": "/bin"},
    )
    assert env["PATH"] == "/bin"
    assert env["STEWARD_SERVICE_NAME"] == "registry"
    assert env["STEWARD_HTTP_PORT"] == "8101" and env["STEWARD_GRPC_PORT"] == "9101"
    assert env["STEWARD_REGISTRY_GRPC_TARGET"] == "127.0.0.1:9101"
    assert env["STEWARD_JWT_DEV_SECRET"] == "s"
