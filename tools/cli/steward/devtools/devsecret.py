"""The dev secret the local platform's services sign and check tokens with, where `steward token`
finds it, and the CLI's consoles and its way of failing."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console

from steward.devtools import infra

console = Console()
err_console = Console(stderr=True)

DEFAULT_DATA_DIR = Path(".steward")
SECRET_ENV = "STEWARD_JWT_DEV_SECRET"


def fail(message: str, log: Path | None = None) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    if log is not None:
        err_console.print(f"[dim]--- last lines of {log} ---[/]")
        err_console.print(infra.tail(log), markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(1)


def ensure_dev_secret(data_dir: Path) -> str:
    """The dev JWT secret in ``<data_dir>/dev-secret``, generated on first use."""
    path = data_dir / "dev-secret"
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


def dev_secret(data_dir: Path) -> str:
    """``STEWARD_JWT_DEV_SECRET`` if set, else the data dir's dev secret."""
    return os.environ.get(SECRET_ENV) or ensure_dev_secret(data_dir)


def search_roots() -> list[Path]:
    """Where `steward token` looks for the project: the working directory, then this package's
    location (the CLI is installed editable from the project's tools/cli)."""
    return [Path.cwd(), Path(__file__).resolve().parent]


def find_dev_secret() -> Path | None:
    """The project's ``.steward/dev-secret`` (written by `steward dev up`), walking up from each root."""
    for root in search_roots():
        for directory in (root, *root.parents):
            candidate = directory / DEFAULT_DATA_DIR / "dev-secret"
            if candidate.is_file() and candidate.read_text().strip():
                return candidate
    return None


def token_secret(data_dir: Path | None) -> str:
    """The secret `steward token` signs with: ``STEWARD_JWT_DEV_SECRET``; else the secret of an explicit
    ``--data-dir`` (created there if new, as `steward dev up --data-dir` would); else the project's
    ``.steward/dev-secret`` found from here. Never a fresh secret no running service knows."""
    if env := os.environ.get(SECRET_ENV):
        return env
    if data_dir is not None:
        return ensure_dev_secret(data_dir.resolve())
    found = find_dev_secret()
    if found is None:
        roots = ", ".join(str(r) for r in search_roots())
        raise fail(
            f"no dev secret found: no {DEFAULT_DATA_DIR}/dev-secret in or above {roots}. "
            "Start the platform first (`make run` in the project writes it), run this from inside the "
            f"project, pass --data-dir <dir of the running platform>, or set {SECRET_ENV}."
        )
    return found.read_text().strip()


def token_command(data_dir: Path) -> str:
    """The `steward token` command line to print for a platform using ``data_dir``, runnable as printed
    from the current directory: the venv's `steward` by its path (under `make run`, uv puts the venv
    on this process's PATH, not on the user's shell's)."""
    exe = Path(sys.executable).with_name("steward")
    try:
        program = str(exe.relative_to(Path.cwd()))
    except ValueError:
        program = str(exe)
    command = f"{program} token --tenant 210100 --role platform_admin"
    if data_dir != (Path.cwd() / DEFAULT_DATA_DIR).resolve():
        command += f" --data-dir {data_dir}"
    return command


def token_minter() -> Callable[..., str]:
    from steward.kit.auth import mint_dev_token

    return mint_dev_token
