"""The `steward` CLI: dev tokens, dev secret, service specs."""

from __future__ import annotations

import importlib.util
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from typer.testing import CliRunner

from steward.devtools import cli, devsecret
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
    monkeypatch.setattr(cli, "token_minter", lambda: _fake_minter(calls))
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
    monkeypatch.setattr(cli, "token_minter", lambda: _fake_minter([]))
    monkeypatch.delenv("STEWARD_JWT_DEV_SECRET", raising=False)
    data_dir = tmp_path / "dev"
    args = ["token", "--tenant", "210100", "--role", "x", "--data-dir", str(data_dir)]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    secret = (data_dir / "dev-secret").read_text().strip()
    assert len(secret) >= 32
    assert devsecret.ensure_dev_secret(data_dir) == secret  # stable once generated
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


def _project_with_secret(root: Path, secret: str = "project-secret-0123456789abcdef0123456789") -> str:
    (root / ".steward").mkdir(parents=True)
    (root / ".steward" / "dev-secret").write_text(secret + "\n")
    return secret


def test_token_finds_the_project_secret_from_a_subdirectory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(cli, "token_minter", lambda: _fake_minter([]))
    monkeypatch.delenv("STEWARD_JWT_DEV_SECRET", raising=False)
    secret = _project_with_secret(tmp_path / "project")
    deep = tmp_path / "project" / "services" / "issues"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    monkeypatch.setattr(devsecret, "search_roots", lambda: [Path.cwd()])
    result = runner.invoke(cli.app, ["token", "--tenant", "210100", "--role", "dispatcher"])
    assert result.exit_code == 0, result.output
    assert jwt.decode(result.output.strip(), secret, algorithms=["HS256"])["tenant"] == "210100"
    assert not (deep / ".steward").exists()  # no new secret next to the caller


def test_token_falls_back_to_the_package_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(cli, "token_minter", lambda: _fake_minter([]))
    monkeypatch.delenv("STEWARD_JWT_DEV_SECRET", raising=False)
    secret = _project_with_secret(tmp_path / "project")
    package = tmp_path / "project" / "tools" / "cli" / "steward" / "devtools"
    package.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setattr(devsecret, "search_roots", lambda: [Path.cwd(), package])
    result = runner.invoke(cli.app, ["token", "--tenant", "210100", "--role", "dispatcher"])
    assert result.exit_code == 0, result.output
    jwt.decode(result.output.strip(), secret, algorithms=["HS256"])
    assert not (elsewhere / ".steward").exists()


def test_token_without_a_project_secret_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("STEWARD_JWT_DEV_SECRET", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(devsecret, "search_roots", lambda: [Path.cwd()])
    result = runner.invoke(cli.app, ["token", "--tenant", "210100", "--role", "dispatcher"])
    assert result.exit_code != 0
    message = " ".join(result.output.split())
    assert "no dev secret found" in message and "STEWARD_JWT_DEV_SECRET" in message, message
    assert not (tmp_path / ".steward").exists()


def test_banner_token_command_runs_as_printed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The command `steward dev up` prints works when pasted into the same shell."""
    import shlex
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "STEWARD_JWT_DEV_SECRET"}
    venv_bin = str(Path(sys.executable).parent)
    shell_env = {
        **env,
        "PATH": os.pathsep.join(d for d in env.get("PATH", "").split(os.pathsep) if d != venv_bin),
    }
    secret = _project_with_secret(tmp_path)
    monkeypatch.chdir(tmp_path)
    project = Path(sys.executable).parents[2]  # <project>/.venv/bin/python
    monkeypatch.chdir(project)
    assert cli.token_command(project / ".steward").startswith(".venv/bin/steward token ")
    monkeypatch.chdir(tmp_path)
    for data_dir in (tmp_path / ".steward", tmp_path / "other"):
        if data_dir.name == "other":
            devsecret.ensure_dev_secret(data_dir)
            secret = (data_dir / "dev-secret").read_text().strip()
        command = cli.token_command(data_dir)
        assert command.split()[0] == str(Path(sys.executable).with_name("steward"))  # a path, not PATH
        # as in the user's shell, where the venv is not on PATH (under `make run` it is, for uv only)
        done = subprocess.run(
            shlex.split(command), cwd=tmp_path, env=shell_env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, (command, done.stderr)
        claims = jwt.decode(done.stdout.strip(), secret, algorithms=["HS256"], options={"verify_aud": False})
        assert claims["roles"] == ["platform_admin"]


async def test_dev_runner_lets_notify_call_loopback_receivers(monkeypatch: pytest.MonkeyPatch) -> None:
    """`steward dev up` in dev mode: a webhook to http://127.0.0.1 is accepted; outside dev mode the
    production defaults stay (https only, no loopback)."""
    from steward.notify.channels.urls import UnsafeUrl, validate_url
    from steward.notify.settings import NotifySettings

    notify = next(s for s in SERVICES if s.name == "notify")
    common = {
        "database_url": "postgresql+asyncpg://postgres@127.0.0.1:1/steward_notify",
        "nats_url": "nats://127.0.0.1:2",
        "jwt_secret": "s" * 32,
        "registry_grpc_target": "127.0.0.1:9101",
    }

    def settings(base: dict[str, str]) -> NotifySettings:
        for key in [k for k in os.environ if k.startswith("STEWARD_")]:
            monkeypatch.delenv(key)
        for key, value in service_env(notify, **common, base=base).items():
            monkeypatch.setenv(key, value)
        return NotifySettings()

    dev = settings({})
    for url in ("http://127.0.0.1:8199/hook", "http://localhost:8199/hook"):
        assert await validate_url(url, dev) == url
    with pytest.raises(UnsafeUrl):  # still no private addresses beyond this machine
        await validate_url("http://10.1.2.3/hook", dev)
    own = settings({"STEWARD_WEBHOOK_ALLOW_HOSTS": "hooks.example.org"})  # an explicit choice wins
    assert own.webhook_allow_hosts == "hooks.example.org"

    production = settings({"STEWARD_ENVIRONMENT": "production"})
    for url in ("http://127.0.0.1:8199/hook", "https://127.0.0.1:8199/hook"):
        with pytest.raises(UnsafeUrl):
            await validate_url(url, production)


def test_dev_clock_command_talks_to_the_registry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import httpx

    from steward.devtools import clock

    monkeypatch.delenv("STEWARD_JWT_DEV_SECRET", raising=False)
    secret = _project_with_secret(tmp_path)
    clock.write_urls(tmp_path / ".steward", {"registry": "http://127.0.0.1:18101"})
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(devsecret, "search_roots", lambda: [Path.cwd()])
    seen: list[tuple[str, str, Any, dict[str, Any]]] = []
    offset = {"s": 0}

    def registry(request: httpx.Request) -> httpx.Response:
        claims = jwt.decode(
            request.headers["authorization"].split()[1],
            secret,
            algorithms=["HS256"],
            options={"verify_aud": False},
        )
        body = json.loads(request.content) if request.content else None
        seen.append((request.method, str(request.url), body, claims))
        if body and body.get("advance") == "soon":
            return httpx.Response(
                422, json={"error": {"code": "invalid_duration", "message": "bad", "details": []}}
            )
        if body:
            offset["s"] = 0 if body.get("reset") else offset["s"] + 3 * 86400
        state = {"offset": f"{offset['s'] // 86400}d 0h 0m 0s", "now": "n", "wall": "w", "environment": "dev"}
        return httpx.Response(200, json=state)

    def client(base_url: str, token: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=base_url, headers=headers, transport=httpx.MockTransport(registry))

    monkeypatch.setattr(clock, "_client", client)
    moved = runner.invoke(cli.app, ["dev", "clock", "+3d"])
    assert moved.exit_code == 0, moved.output
    assert "3d 0h 0m 0s ahead" in moved.output
    assert runner.invoke(cli.app, ["dev", "clock"]).exit_code == 0
    assert "0d" in runner.invoke(cli.app, ["dev", "clock", "reset"]).output
    refused = runner.invoke(cli.app, ["dev", "clock", "soon"])
    assert refused.exit_code != 0 and "invalid_duration" in refused.output
    assert [(m, url, body) for m, url, body, _ in seen] == [
        ("POST", "http://127.0.0.1:18101/v1/dev/clock", {"advance": "+3d"}),
        ("GET", "http://127.0.0.1:18101/v1/dev/clock", None),
        ("POST", "http://127.0.0.1:18101/v1/dev/clock", {"reset": True}),
        ("POST", "http://127.0.0.1:18101/v1/dev/clock", {"advance": "soon"}),
    ]
    assert all(claims["roles"] == ["platform_admin"] for *_, claims in seen)
