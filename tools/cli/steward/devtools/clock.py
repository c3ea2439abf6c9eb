"""``steward dev clock``: show or move the dev platform clock (registry ``/v1/dev/clock``).

Every service follows it in dev mode (steward.kit.devclock), so reminders, overdue matters,
escalation and report due dates happen in minutes instead of days. Outside dev mode the registry
refuses to move it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from steward.devtools.devsecret import DEFAULT_DATA_DIR, fail, find_dev_secret, token_minter, token_secret

DEFAULT_REGISTRY = "http://127.0.0.1:8101"
URLS_FILE = "services.json"


def write_urls(data_dir: Path, urls: dict[str, str]) -> None:
    """Where `steward dev up` serves each service's REST API (read by `steward dev clock`)."""
    (data_dir / URLS_FILE).write_text(json.dumps(urls, indent=2) + "\n")


def registry_url(data_dir: Path | None) -> str:
    """The registry's REST URL of the running dev platform, else the default port."""
    if data_dir is None:
        secret = find_dev_secret()
        data_dir = secret.parent if secret is not None else Path.cwd() / DEFAULT_DATA_DIR
    try:
        return str(json.loads((data_dir / URLS_FILE).read_text())["registry"])
    except (OSError, ValueError, KeyError):
        return DEFAULT_REGISTRY


def _client(base_url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0)


def _show(state: dict[str, Any]) -> str:
    return (
        f"platform clock: {state['offset']} ahead of the wall clock "
        f"(now {state['now']}; wall {state['wall']}; environment {state['environment']})"
    )


def clock_command(
    change: Annotated[
        str | None,
        typer.Argument(help="How far to move forward ('+3d', '12h', '1d6h30m'), or 'reset'; omit to show."),
    ] = None,
    registry: Annotated[
        str | None, typer.Option("--registry", help="Registry REST URL (default: from the running `dev up`).")
    ] = None,
    tenant: Annotated[
        str, typer.Option("--tenant", help="Tenant of the platform admin making the change.")
    ] = "210100",
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data dir of the running platform.")
    ] = None,
) -> None:
    """Show or move the dev platform clock for every service (dev mode only; audited)."""
    secret = token_secret(data_dir)
    token = token_minter()(
        secret=secret,
        subject="steward-cli",
        tenant=tenant,
        roles=["platform_admin"],
        unit=None,
        ttl_seconds=300,
    )
    base = registry or registry_url(data_dir)
    with _client(base, token) as client:
        try:
            if change is None:
                response = client.get("/v1/dev/clock")
            elif change.strip().lower() == "reset":
                response = client.post("/v1/dev/clock", json={"reset": True})
            else:
                response = client.post("/v1/dev/clock", json={"advance": change})
        except httpx.HTTPError as exc:
            raise fail(
                f"cannot reach the registry at {base}: {exc} (is `make run` running? --registry URL)"
            ) from exc
    if response.status_code >= 400:
        try:
            error = response.json()["error"]
            message = f"{error['message']} ({error['code']})"
        except (ValueError, KeyError, TypeError):
            message = response.text[:300]
        raise fail(f"the registry refused: {message}")
    typer.echo(_show(response.json()))
