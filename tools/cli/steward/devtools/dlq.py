"""``steward dlq``: dead letters of every consumer — what waits, why, and replaying them once the
cause is fixed (the registry's ``/v1/dead-letters``, platform admins; replays are audited).

Against the local platform it mints a platform-admin token from the dev secret; elsewhere pass
``--registry`` and a real token in ``STEWARD_TOKEN``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from steward.devtools.devsecret import token_minter, token_secret

dlq_app = typer.Typer(no_args_is_help=True, help="Dead letters: list, show and replay (platform admins).")

RegistryOpt = Annotated[
    str | None, typer.Option("--registry", help="Registry REST URL (default: from the running `dev up`).")
]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Data dir of the running platform.")]


def _client(registry: str | None, data_dir: Path | None) -> httpx.Client:
    from steward.devtools.clock import registry_url

    token = os.environ.get("STEWARD_TOKEN")
    if not token:
        token = token_minter()(
            secret=token_secret(data_dir),
            subject="steward-cli",
            tenant="210100",
            roles=["platform_admin"],
            unit=None,
            ttl_seconds=300,
        )
    base = registry or registry_url(data_dir)
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30.0)


def _call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    try:
        response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        typer.echo(f"cannot reach the registry at {client.base_url}: {exc}", err=True)
        raise typer.Exit(2) from exc
    if response.status_code >= 400:
        try:
            error = response.json()["error"]
            message = f"{error['code']}: {error['message']}"
        except (ValueError, KeyError, TypeError):
            message = response.text[:300]
        typer.echo(f"refused ({response.status_code}) {message}", err=True)
        raise typer.Exit(1)
    return response.json()


@dlq_app.command("list")
def list_command(registry: RegistryOpt = None, data_dir: DataDirOpt = None) -> None:
    """How many dead letters wait, per consumer."""
    with _client(registry, data_dir) as client:
        items = _call(client, "GET", "/v1/dead-letters")["items"]
    if not items:
        typer.echo("no dead letters")
    for item in items:
        typer.echo(f"{item['consumer']}\t{item['waiting']}")


@dlq_app.command("show")
def show_command(
    consumer: Annotated[str, typer.Argument(help="Durable consumer name, e.g. notify.")],
    limit: Annotated[int, typer.Option("--limit")] = 20,
    registry: RegistryOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """The oldest dead letters of a consumer, with the reason each failed."""
    with _client(registry, data_dir) as client:
        items = _call(client, "GET", f"/v1/dead-letters/{consumer}", params={"limit": limit})["items"]
    for item in items:
        typer.echo(f"#{item['sequence']}\t{item['event_type']}\t{item['event_id']}\t{item['reason']}")


@dlq_app.command("replay")
def replay_command(
    consumer: Annotated[str, typer.Argument(help="Durable consumer name, e.g. notify.")],
    limit: Annotated[int, typer.Option("--limit")] = 1000,
    registry: RegistryOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Publish a consumer's dead letters again, for that consumer only, oldest first."""
    with _client(registry, data_dir) as client:
        result = _call(client, "POST", f"/v1/dead-letters/{consumer}/replay", params={"limit": limit})
    typer.echo(f"replayed {result['replayed']} dead letter(s) of {result['consumer']}")
