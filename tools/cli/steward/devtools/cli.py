"""``steward`` developer CLI: local platform runner and dev tokens.

steward dev up [--data-dir .steward] [--no-seed] [--fresh] [--reseed]
steward dev infra [--data-dir .steward]
steward token --tenant 210100 --role platform_admin
steward dev clock [+3d | reset]
steward dlq list | show <consumer> | replay <consumer>
steward nats agency-credentials | agency-consumer --tenant 210112 --agency env
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from steward.devtools import infra, runner, warmstart
from steward.devtools.agency import nats_app
from steward.devtools.clock import clock_command, write_urls
from steward.devtools.devsecret import (
    DEFAULT_DATA_DIR,
    console,
    dev_secret,
    err_console,
    fail,
    token_command,
    token_minter,
    token_secret,
)
from steward.devtools.dlq import dlq_app
from steward.devtools.mailsink import MailSink
from steward.devtools.services import (
    ServiceSpec,
    assign_ports,
    available_services,
    service_env,
    service_urls,
)

app = typer.Typer(no_args_is_help=True, help="Steward developer tools.", add_completion=False)
dev_app = typer.Typer(no_args_is_help=True, help="Run the platform locally (embedded PostgreSQL + NATS).")
app.add_typer(dev_app, name="dev")
dev_app.command("clock")(clock_command)
app.add_typer(dlq_app, name="dlq")
app.add_typer(nats_app, name="nats")

DataDirOpt = Annotated[Path, typer.Option("--data-dir", help="Where dev data, logs and the dev secret live.")]
FreshOpt = Annotated[bool, typer.Option("--fresh", help="Wipe the local database and NATS data first.")]


@app.command()
def token(
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant code, e.g. 210100.")],
    role: Annotated[list[str], typer.Option("--role", help="Role; repeat for several.")],
    sub: Annotated[str, typer.Option("--sub", help="Subject (person id).")] = "dev-user",
    unit: Annotated[str | None, typer.Option("--unit", help="Unit id of the subject.")] = None,
    ttl: Annotated[int, typer.Option("--ttl", help="Lifetime in seconds.")] = 3600,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Data dir of the running platform (default: the project's .steward, found from here).",
        ),
    ] = None,
) -> None:
    """Print a dev JWT signed with the dev secret (use as `Authorization: Bearer <token>`)."""
    secret = token_secret(data_dir)
    mint = token_minter()
    try:
        jwt = mint(secret=secret, subject=sub, tenant=tenant, roles=list(role), unit=unit, ttl_seconds=ttl)
    except ValueError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    typer.echo(jwt)


# --------------------------------------------------------------------------- process helpers


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _lifecycle() -> Iterator[contextlib.ExitStack]:
    """Yield an ExitStack for started things; Ctrl-C / SIGTERM end the body and everything on the
    stack is stopped in reverse order with both signals ignored (restored afterwards)."""
    old_int, old_term = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGINT, _raise_interrupt)  # even if started with SIGINT ignored (`cmd &`)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    stack = contextlib.ExitStack()
    try:
        try:
            yield stack
        except KeyboardInterrupt:
            console.print("\nstopping…")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            stack.close()
        finally:
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)


def _run_command(spec: ServiceSpec, command: str, env: dict[str, str], log: Path) -> None:
    with log.open("ab") as out:
        out.write(f"\n=== python -m {spec.module} {command} ===\n".encode())
        out.flush()
        res = subprocess.run(
            [sys.executable, "-m", spec.module, command],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if res.returncode != 0:
        raise fail(f"`{spec.name} {command}` failed with exit code {res.returncode}", log)


def _start_infra(
    data_dir: Path, stack: contextlib.ExitStack, *, fast_unsafe: bool = False
) -> tuple[infra.ExternalPostgres | infra.LocalPostgres, infra.ExternalNats | infra.LocalNats]:
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with console.status("starting PostgreSQL…"):
        t0 = time.monotonic()
        try:
            db = infra.database_server(
                data_dir / "pg", fast_unsafe=fast_unsafe, log_path=logs / "postgres.log"
            )
        except infra.InfraError as exc:
            raise fail(str(exc)) from exc
        stack.callback(db.stop)
    console.print(f"PostgreSQL ready in {time.monotonic() - t0:.1f}s: {db.url()}")
    with console.status("starting NATS…"):
        try:
            nats = infra.nats_server(data_dir / "nats", monitor_port=0, log_path=logs / "nats.log")
        except infra.InfraError as exc:
            raise fail(str(exc)) from exc
        stack.callback(nats.stop)
    console.print(f"NATS ready: {nats.url}")
    return db, nats


def _start_mail(directory: Path, stack: contextlib.ExitStack) -> MailSink | None:
    """The platform's mail server: every e-mail notify sends lands in ``directory`` as an ``.eml``
    file. None when ``STEWARD_SMTP_HOST`` names a mail server of one's own (notify then uses it)."""
    if os.environ.get("STEWARD_SMTP_HOST"):
        return None
    mail = MailSink(directory).start()
    stack.callback(mail.stop)
    return mail


def _wipe(data_dir: Path) -> None:
    for sub in ("pg", "nats", "logs", "mail"):
        shutil.rmtree(data_dir / sub, ignore_errors=True)
    (data_dir / warmstart.RECORD).unlink(missing_ok=True)


# --------------------------------------------------------------------------- dev up / dev infra


@dev_app.command("up")
def up(
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    seed: Annotated[bool, typer.Option("--seed/--no-seed", help="Load demo data after migrating.")] = True,
    fresh: FreshOpt = False,
    reseed: Annotated[
        bool, typer.Option("--reseed", help="Run every demo seed, even one that ran before on this data.")
    ] = False,
    ready_timeout: Annotated[float, typer.Option("--ready-timeout", help="Seconds per service.")] = 90.0,
) -> None:
    """Start PostgreSQL, NATS and every installed service; stop everything on Ctrl-C."""
    data_dir = data_dir.resolve()
    if fresh:
        _wipe(data_dir)
    secret = dev_secret(data_dir)
    logs = data_dir / "logs"
    specs = assign_ports(available_services())
    if not specs:
        err_console.print("[yellow]no service modules are installed; starting infrastructure only[/]")
    registry = next((s for s in specs if s.name == "registry"), None)
    registry_target = f"127.0.0.1:{registry.grpc_port}" if registry else "127.0.0.1:9101"
    issues = next((s for s in specs if s.name == "issues"), None)
    issues_env = {"STEWARD_ISSUES_GRPC_TARGET": f"127.0.0.1:{issues.grpc_port}"} if issues else {}

    with _lifecycle() as stack:
        db, nats = _start_infra(data_dir, stack)
        mail = _start_mail(data_dir / "mail", stack)
        envs: dict[str, dict[str, str]] = {}
        db_urls: dict[str, str] = {}
        for spec in specs:
            db_urls[spec.name] = db.create_database(spec.database) if spec.database else "—"
            envs[spec.name] = service_env(
                spec,
                database_url=db_urls[spec.name],
                nats_url=nats.url,
                jwt_secret=secret,
                registry_grpc_target=registry_target,
                base={**os.environ, **issues_env, **service_urls(specs)},
            )
            if mail is not None and spec.name == "notify":
                envs[spec.name].update(STEWARD_SMTP_HOST="127.0.0.1", STEWARD_SMTP_PORT=str(mail.port))
        # each step runs for every service at once: migrations, then the processes to /readyz, then
        # the seeds in dependency waves (a warm start is as long as the slowest service, not the sum);
        # a warm start leaves out what has nothing to do (steward.devtools.warmstart)
        t0 = time.monotonic()
        with console.status(f"migrating {len(specs)} services…"):
            stale = warmstart.behind(specs, db_urls)
            runner.each(
                stale, lambda spec: _run_command(spec, "migrate", envs[spec.name], logs / f"{spec.name}.log")
            )
        with console.status(f"starting {len(specs)} services…"):
            procs = _start_all(specs, envs, logs, ready_timeout)
        for spec in specs:
            stack.callback(runner.stop_current, spec.name, procs)
        migrated = f"migrated: {', '.join(s.name for s in stale)}" if stale else "every database at head"
        console.print(
            f"{len(specs)} services ready in {time.monotonic() - t0:.1f}s ({migrated})", soft_wrap=True
        )
        if seed:
            _seed(specs, envs, db_urls, logs, warmstart.SeedRecord(data_dir), reseed=reseed)
        write_urls(data_dir, {spec.name: f"http://127.0.0.1:{spec.http_port}" for spec in specs})
        _print_summary(specs, db_urls, db.url(), nats, data_dir, mail)
        runner.supervise(specs, procs, envs, logs, db, nats, ready_timeout)
    console.print("stopped")


# the demo seeds build on each other: the registry's projects first, then the issues filed on them
# (meetings' decisions reference matters), then every other service at once
SEED_WAVES: tuple[frozenset[str], ...] = (frozenset({"registry"}), frozenset({"issues"}), frozenset({"*"}))


def _seed(
    specs: list[ServiceSpec],
    envs: dict[str, dict[str, str]],
    db_urls: dict[str, str],
    logs: Path,
    record: warmstart.SeedRecord,
    *,
    reseed: bool,
) -> None:
    """The seeds wave by wave; a seed that ran before on the same database and sources is left out,
    unless an earlier wave ran (later seeds build on earlier ones) or ``reseed``."""
    if reseed:
        record.forget()
    named = set().union(*SEED_WAVES)
    ran_before: list[str] = []
    cascade = False
    for wave in SEED_WAVES:
        group = [spec for spec in specs if spec.name in wave or ("*" in wave and spec.name not in named)]
        keys = {spec.name: warmstart.seed_key(spec, db_urls[spec.name]) for spec in group}
        todo = [spec for spec in group if cascade or not record.current(spec.name, keys[spec.name])]
        ran_before += [spec.name for spec in group if spec not in todo]
        if not todo:
            continue
        cascade = True
        with console.status(f"seeding {', '.join(spec.name for spec in todo)}…"):
            runner.each(
                todo, lambda spec: _run_command(spec, "seed", envs[spec.name], logs / f"{spec.name}.log")
            )
        for spec in todo:
            record.record(spec.name, keys[spec.name])
    if ran_before:
        console.print(
            f"demo data of {', '.join(ran_before)}: seeded before on these databases "
            f"(recorded in {record.path}; --reseed runs the seeds again)",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )


def _start_all(
    specs: list[ServiceSpec], envs: dict[str, dict[str, str]], logs: Path, ready_timeout: float
) -> dict[str, subprocess.Popen[bytes]]:
    """:func:`runner.start_all`; a service that did not start ends the command with its log's tail."""
    try:
        return runner.start_all(specs, envs, logs, ready_timeout)
    except runner.NotReady as exc:
        raise fail(str(exc), logs / f"{exc.service}.log") from exc


def _print_summary(
    specs: list[ServiceSpec],
    db_urls: dict[str, str],
    server_url: str,
    nats: infra.ExternalNats | infra.LocalNats,
    data_dir: Path,
    mail: MailSink | None = None,
) -> None:
    web = next((s for s in specs if s.name == "console"), None)
    if web is not None:
        console.print(
            f"[bold]工作台 (web console): http://127.0.0.1:{web.http_port}[/]  "
            "— dev sign-in: pick a demo person and role"
        )
    table = Table(title="Steward — local platform", show_lines=False)
    for column in ("service", "REST", "OpenAPI docs", "gRPC", "metrics", "database"):
        table.add_column(column, overflow="fold")
    for spec in specs:
        base = f"http://127.0.0.1:{spec.http_port}"
        table.add_row(
            spec.name,
            base,
            f"{base}/docs",
            f"127.0.0.1:{spec.grpc_port}" if spec.grpc_port else "—",
            f"{base}/metrics",
            db_urls[spec.name],
        )
    Console(width=max(console.width, 220)).print(table)  # never fold URLs
    console.print(f"PostgreSQL: {server_url}")
    console.print(f"NATS:       {nats.url}")
    monitor = getattr(nats, "monitor_url", None)
    if monitor:
        console.print(f"NATS monitoring: {monitor}")
    plain = functools.partial(console.print, soft_wrap=True, markup=False, highlight=False)  # unfolded
    plain(f"logs:       {data_dir / 'logs'}")
    if mail is not None and mail.directory is not None:
        plain(f"e-mail:     {mail.directory} (every e-mail sent, as .eml; SMTP 127.0.0.1:{mail.port})")
    plain(f"token:      {token_command(data_dir)}")
    console.print("Press Ctrl-C to stop.")


@dev_app.command("infra")
def infra_cmd(
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    fresh: FreshOpt = False,
    fsync: Annotated[
        bool, typer.Option("--fsync/--no-fsync", help="--no-fsync: faster, unsafe on crash (tests).")
    ] = True,
) -> None:
    """Start only PostgreSQL + NATS and print their URLs (e.g. for running tests against them)."""
    data_dir = data_dir.resolve()
    if fresh:
        _wipe(data_dir)
    with _lifecycle() as stack:
        db, nats = _start_infra(data_dir, stack, fast_unsafe=not fsync)
        console.print("\nTo point services and tests at these servers, run:")
        typer.echo(f"export {infra.DATABASE_URL_ENV}={db.url()}")
        typer.echo(f"export {infra.NATS_URL_ENV}={nats.url}")
        console.print("Press Ctrl-C to stop.")
        while True:
            time.sleep(1)
    console.print("stopped")


def main() -> None:  # pragma: no cover - console entry convenience
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
