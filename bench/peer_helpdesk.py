"""Against the peer: Steward's matter filing beside django-helpdesk's ticket API, same load, one run.

``uv run --frozen python -m bench.peer_helpdesk [--seconds 10] [--rounds 3] [--workers 1 2] [--json out.json]``

django-helpdesk 2.6.1 (the ticket tracker a city would otherwise install) is set up in a virtual
environment of its own under ``.steward/peer/helpdesk`` (git-ignored; made with ``uv venv`` and
``uv pip install`` of pinned versions from PyPI on the first run, reused after that). Nothing of it
is committed: a small Django project (settings, urls, wsgi, a ``Bearer`` token class) is written
into that folder at run time. Not a ``*_bench.py`` module: ``python -m bench`` and the smoke test
never install anything from PyPI.

One run, one PostgreSQL (embedded with fsync off as ``python -m bench`` starts it, or
``STEWARD_DATABASE_URL``), one NATS (``STEWARD_NATS_URL`` or embedded):

1. Steward: registry and issues as separate processes (``bench.processes_bench.Platform``, as
   ``make run`` starts them), a city tree and a project; ``POST /v1/matters`` under ``wrk -c8``
   for ``--seconds`` after a 1 s warm-up — 2 server processes (issues + registry).
2. django-helpdesk on its own database on the same server: migrated, a staff user with a DRF token,
   a queue; served by gunicorn (sync workers, DEBUG off) with 1 and then 2 workers;
   ``POST /helpdesk/api/tickets/`` (its ``TicketViewSet``: ``TicketForm`` → ticket, follow-up,
   e-mail roles, backlinks; the created ticket with its follow-ups as the answer) under the same
   ``wrk`` load.

The sides alternate ``--rounds`` times (Steward's processes are stopped while the peer runs and
restarted for its next round); each side's rate is its median round. Every answer must be 2xx
(``wrk``'s status errors fail the run; the peer's database must then hold at least as many tickets
as were answered). CPU ms per item in each process (the services or gunicorn's master with its
workers, PostgreSQL with its backends, NATS) from ``/proc`` before and after. The numbers are
printed, not asserted: exit 0 when both sides were measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import psutil
from rich.console import Console
from rich.table import Table

from bench.common import BenchContext, Row
from bench.processes_bench import (
    CONNECTIONS,
    SECRET,
    Load,
    Meter,
    Platform,
    _infra_pids,
    _setup_tenants,
    cpu_note,
    wrk,
    wrk_binary,
)
from steward.devtools.infra import free_port, spawn, terminate
from steward.kit.auth import mint_dev_token

ROOT = Path(__file__).resolve().parents[1]
PEER_DIR = ROOT / ".steward" / "peer" / "helpdesk"

# Everything the venv holds, pinned (django-helpdesk 2.6.1's resolution on Python 3.11).
PINS = (
    "django-helpdesk==2.6.1",
    "Django==5.2.19",
    "djangorestframework==3.18.3",
    "psycopg[binary]==3.3.9",
    "psycopg-binary==3.3.9",
    "gunicorn==27.0.1",
    "asgiref==3.13.0",
    "beautifulsoup4==4.15.0",
    "certifi==2026.10.19.post1",
    "charset-normalizer==3.5.3",
    "django-cleanup==9.0.0",
    "django-model-utils==5.0.0",
    "email-reply-parser==0.5.12",
    "idna==3.20",
    "markdown==3.11.3",
    "nh3==0.3.8",
    "oauthlib==4.0.1",
    "requests==2.34.2",
    "requests-oauthlib==2.0.0",
    "soupsieve==4.1.3",
    "sqlparse==0.6.1",
    "typing-extensions==4.16.0",
    "urllib3==2.8.0",
)

MATTER = {
    "kind": "obstacle",
    "title": "基准问题",
    "category": "utilities",
    "tier": "unit",
}
TICKET_TITLE = "基准问题"
TICKET_DESCRIPTION = "施工便道被占用, 需要协调"


# --------------------------------------------------------------------------- pure helpers


def django_database(sqlalchemy_url: str) -> dict[str, Any]:
    """Django's ``DATABASES['default']`` for a ``postgresql+asyncpg://user[:pw]@host:port/db`` URL
    (psycopg 3, persistent connections as a production deployment keeps them)."""
    parts = urlsplit(sqlalchemy_url)
    if not parts.scheme.startswith("postgres"):
        raise ValueError(f"not a PostgreSQL URL: {sqlalchemy_url!r}")
    name = parts.path.lstrip("/")
    if not name:
        raise ValueError(f"no database name in {sqlalchemy_url!r}")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(name),
        "USER": unquote(parts.username or "postgres"),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": str(parts.port or 5432),
        "CONN_MAX_AGE": 600,
    }


def settings_module(database: dict[str, Any], media_root: Path) -> str:
    """The peer's Django settings: a plain production-style project (DEBUG off, the default
    middleware, DRF with token authentication), django-helpdesk with its API on and no teams
    (pinax-teams is an optional extra), e-mail to Django's dummy backend (nothing leaves)."""
    return f'''"""Generated by bench/peer_helpdesk.py at run time: do not edit."""

SECRET_KEY = "peer-helpdesk-bench-not-secret-0123456789abcdef0123456789"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "helpdesk",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "peer_urls"
WSGI_APPLICATION = "peer_wsgi.application"
TEMPLATES = [
    {{
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {{
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        }},
    }},
]
DATABASES = {{"default": {database!r}}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
SITE_ID = 1
STATIC_URL = "/static/"
MEDIA_ROOT = {str(media_root)!r}
EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
DEFAULT_FROM_EMAIL = "helpdesk@example.invalid"
LOGIN_URL = "/helpdesk/login/"
REST_FRAMEWORK = {{
    "DEFAULT_AUTHENTICATION_CLASSES": ["peer_auth.BearerToken"],
}}
HELPDESK_TEAMS_MODE_ENABLED = False
HELPDESK_API_ENABLED = True
LOGGING = {{
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {{"console": {{"class": "logging.StreamHandler"}}}},
    "root": {{"handlers": ["console"], "level": "WARNING"}},
}}
'''


URLS_MODULE = '''"""Generated by bench/peer_helpdesk.py at run time: do not edit."""
from django.urls import include, path

urlpatterns = [path("helpdesk/", include("helpdesk.urls"))]
'''

WSGI_MODULE = '''"""Generated by bench/peer_helpdesk.py at run time: do not edit."""
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer_settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
'''

# DRF's documented way to take ``Authorization: Bearer <key>`` (the same header wrk sends to
# Steward): TokenAuthentication with another keyword — one indexed lookup per request, as with
# ``Token <key>``.
AUTH_MODULE = '''"""Generated by bench/peer_helpdesk.py at run time: do not edit."""
from rest_framework.authentication import TokenAuthentication


class BearerToken(TokenAuthentication):
    keyword = "Bearer"
'''

# Run with the peer's python after ``django.setup()``: a staff user with a token, one queue.
SETUP_SCRIPT = """
import json
import django

django.setup()
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from helpdesk.models import Queue

User = get_user_model()
user, _ = User.objects.get_or_create(
    username="bench", defaults={"is_staff": True, "is_superuser": True, "email": "bench@example.invalid"}
)
token, _ = Token.objects.get_or_create(user=user)
queue, _ = Queue.objects.get_or_create(
    slug="obstacles", defaults={"title": "Obstacles", "allow_public_submission": False}
)
print("PEER " + json.dumps({"token": token.key, "queue": queue.id}))
"""

COUNT_SCRIPT = """
import django

django.setup()
from helpdesk.models import FollowUp, Ticket

print("PEER", Ticket.objects.count(), FollowUp.objects.count())
"""


def parse_marker(out: str) -> str:
    """The payload of the last ``PEER …`` line a peer script printed."""
    lines = [ln for ln in out.splitlines() if ln.startswith("PEER ")]
    if not lines:
        raise RuntimeError(f"no PEER line in the output: {out[-2000:]}")
    return lines[-1].removeprefix("PEER ")


def ticket_body(queue: int) -> dict[str, Any]:
    """The JSON ``POST /helpdesk/api/tickets/`` takes (priority is required by its TicketForm)."""
    return {"queue": queue, "title": TICKET_TITLE, "description": TICKET_DESCRIPTION, "priority": 3}


def ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


# --------------------------------------------------------------------------- the peer


def _uv() -> str:
    local = ROOT / ".tools" / "bin" / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if not found:
        raise RuntimeError("uv is missing (.tools/bin/uv or on PATH)")
    return found


def ensure_venv(base: Path = PEER_DIR, console: Console | None = None) -> Path:
    """The peer's python: ``base/venv`` with :data:`PINS`, installed once (a marker file holds
    the pins it was made with; a change of pins or a broken venv makes it anew)."""
    venv = base / "venv"
    python = venv / "bin" / "python"
    marker = venv / "peer-pins.txt"
    wanted = "\n".join(PINS) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    if console:
        console.print(f"peer: installing django-helpdesk 2.6.1 into {venv} (PyPI, once) …")
    if venv.exists():
        shutil.rmtree(venv)
    base.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [_uv(), "venv", "-q", "--python", sys.executable, str(venv)], check=True, capture_output=True
    )
    res = subprocess.run(
        [_uv(), "pip", "install", "-q", "--python", str(python), *PINS], capture_output=True, text=True
    )
    if res.returncode != 0:
        raise RuntimeError(f"uv pip install failed: {res.stderr[-2000:]}")
    marker.write_text(wanted)
    return python


@dataclass
class PeerSite:
    """The generated Django project and the environment the peer's processes run with."""

    python: Path
    site: Path
    env: dict[str, str]

    def run(self, args: list[str], what: str, timeout: float = 600.0) -> str:
        res = subprocess.run(
            [str(self.python), *args],
            cwd=self.site,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if res.returncode != 0:
            raise RuntimeError(f"peer {what} failed: {(res.stdout + res.stderr)[-3000:]}")
        return res.stdout


def write_site(python: Path, database_url: str, base: Path = PEER_DIR) -> PeerSite:
    site = base / "site"
    site.mkdir(parents=True, exist_ok=True)
    media = base / "media"
    media.mkdir(exist_ok=True)
    (site / "peer_settings.py").write_text(settings_module(django_database(database_url), media))
    (site / "peer_urls.py").write_text(URLS_MODULE)
    (site / "peer_wsgi.py").write_text(WSGI_MODULE)
    (site / "peer_auth.py").write_text(AUTH_MODULE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STEWARD_", "VIRTUAL_ENV", "PYTHON"))}
    env |= {"DJANGO_SETTINGS_MODULE": "peer_settings", "PYTHONPATH": str(site), "PYTHONUNBUFFERED": "1"}
    return PeerSite(python, site, env)


class Gunicorn:
    """The peer served by gunicorn with ``workers`` sync workers on a free loopback port."""

    def __init__(self, site: PeerSite, workers: int, log: Path) -> None:
        self.site = site
        self.workers = workers
        self.port = free_port()
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, token: str) -> None:
        gunicorn = self.site.python.parent / "gunicorn"
        self.proc = spawn(
            [
                str(gunicorn),
                "--workers",
                str(self.workers),
                "--worker-class",
                "sync",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
                "peer_wsgi:application",
            ],
            log_path=self.log,
            env=self.site.env,
            cwd=self.site.site,
        )
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        async with httpx.AsyncClient(timeout=5) as http:
            for _ in range(600):
                if self.proc.poll() is not None:
                    raise RuntimeError(f"gunicorn exited: {self.log.read_text()[-2000:]}")
                try:
                    r = await http.get(f"{self.url}/helpdesk/api/", headers=headers)
                    if r.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("gunicorn not ready in 60 s")
        # every worker up (the master forks them after binding): wait until all are there
        for _ in range(600):
            if len(psutil.Process(self.proc.pid).children()) >= self.workers:
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"gunicorn has fewer than {self.workers} workers after 60 s")

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc, timeout=20.0)
            self.proc = None


# --------------------------------------------------------------------------- measuring


@dataclass
class Side:
    """One side's load and CPU over one or more rounds (rate: the median round's)."""

    label: str
    processes: int
    loads: list[Load]
    cpu: dict[str, float]

    @property
    def requests(self) -> int:
        return sum(x.requests for x in self.loads)

    @property
    def rate(self) -> float:
        return statistics.median(x.rate for x in self.loads) if self.loads else 0.0

    @property
    def p50_ms(self) -> float:
        return statistics.median(x.p50_ms for x in self.loads) if self.loads else 0.0

    @property
    def p99_ms(self) -> float:
        return max((x.p99_ms for x in self.loads), default=0.0)

    @property
    def cpu_ms_per_item(self) -> float:
        return 1000 * sum(self.cpu.values()) / max(self.requests, 1)

    def add(self, load: Load, cpu: dict[str, float]) -> None:
        self.loads.append(load)
        for k, v in cpu.items():
            self.cpu[k] = self.cpu.get(k, 0.0) + v

    def rounds_note(self) -> str:
        return (
            "" if len(self.loads) < 2 else "rounds " + " / ".join(f"{x.rate:.1f}" for x in self.loads) + "; "
        )


async def measure(
    side: Side,
    url: str,
    body: dict[str, Any],
    token: str,
    pids: dict[str, tuple[int, bool]],
    seconds: float,
    workdir: Path,
) -> None:
    await wrk(url, body, token, 1, workdir)  # warm-up: pools, caches, lazy imports
    meter = Meter(pids)
    meter.start()
    load = await wrk(url, body, token, seconds, workdir)
    side.add(load, meter.stop())


class Steward:
    """Registry and issues as processes (``Platform``); stopped while the peer is measured."""

    def __init__(self, ctx: BenchContext, workdir: Path) -> None:
        self.ctx = ctx
        self.platform = Platform(ctx, workdir)
        self.names = ["registry", "issues"]
        self.migrated = False
        self.target: tuple[str, dict[str, Any], str] | None = None

    async def measure(self, side: Side, seconds: float, workdir: Path) -> None:
        if not self.migrated:
            await self.platform.migrate(self.names)
            self.migrated = True
        await self.platform.start(self.names)
        try:
            if self.target is None:
                district, project = await _setup_tenants(self.platform)
                token = mint_dev_token(secret=SECRET, subject="bench", tenant=district, roles=["specialist"])
                iss = self.platform.running["issues"]
                self.target = (f"{iss.url}/v1/matters", {**MATTER, "project_id": project}, token)
            reg, iss = self.platform.running["registry"], self.platform.running["issues"]
            pids = {
                "issues": (iss.proc.pid, False),
                "registry": (reg.proc.pid, False),
                **_infra_pids(self.ctx),
            }
            url, body, token = self.target
            # the port is the same after a restart (assigned once): the URL stays valid
            await measure(side, url, body, token, pids, seconds, workdir)
        finally:
            self.platform.stop()


class Peer:
    """django-helpdesk on its own database of the same server, migrated once."""

    def __init__(self, ctx: BenchContext, workdir: Path, console: Console) -> None:
        self.ctx = ctx
        self.workdir = workdir
        self.console = console
        self.site: PeerSite | None = None
        self.token = ""
        self.queue = 0

    async def prepare(self) -> None:
        python = await asyncio.to_thread(ensure_venv, PEER_DIR, self.console)
        self.site = write_site(python, self.ctx.database_url("helpdesk"))
        t0 = time.perf_counter()
        await asyncio.to_thread(self.site.run, ["-m", "django", "migrate", "--noinput"], "migrate")
        self.console.print(f"peer: django-helpdesk migrated in {time.perf_counter() - t0:.1f} s")
        made = json.loads(parse_marker(await asyncio.to_thread(self.site.run, ["-c", SETUP_SCRIPT], "setup")))
        self.token, self.queue = str(made["token"]), int(made["queue"])

    async def measure(self, side: Side, workers: int, seconds: float) -> None:
        assert self.site is not None, "prepare() first"
        server = Gunicorn(self.site, workers, self.workdir / f"gunicorn-{workers}.log")
        try:
            await server.start(self.token)
            assert server.proc is not None
            postgres = {k: v for k, v in _infra_pids(self.ctx).items() if k == "postgres"}
            await measure(
                side,
                f"{server.url}/helpdesk/api/tickets/",
                ticket_body(self.queue),
                self.token,
                {"gunicorn": (server.proc.pid, True), **postgres},
                seconds,
                self.workdir,
            )
        finally:
            server.stop()

    async def counts(self) -> tuple[int, int]:
        assert self.site is not None, "prepare() first"
        out = await asyncio.to_thread(self.site.run, ["-c", COUNT_SCRIPT], "count")
        tickets, followups = parse_marker(out).split()
        return int(tickets), int(followups)


def _workers(n: int) -> str:
    return f"{n} worker{'s' if n != 1 else ''}"


def rows(steward: Side, peers: list[Side], seconds: float) -> list[Row]:
    how = f"wrk -c{CONNECTIONS}, {seconds:.0f} s after 1 s warm-up"
    if len(steward.loads) > 1:
        how += f", median of {len(steward.loads)} rounds"
    out = [
        Row(
            f"{steward.label} filings/s",
            steward.rate,
            "matters/s",
            f"{how}; {steward.rounds_note()}n={steward.requests}; p50 {steward.p50_ms:.1f} ms, p99 "
            f"{steward.p99_ms:.1f} ms; {cpu_note(steward.cpu, steward.requests)}",
        ),
        Row(
            "Steward CPU per filing (all processes)", steward.cpu_ms_per_item, "ms", "incl. PostgreSQL, NATS"
        ),
    ]
    for p in peers:
        out += [
            Row(
                f"{p.label} tickets/s",
                p.rate,
                "tickets/s",
                f"{how}; {p.rounds_note()}n={p.requests}; p50 {p.p50_ms:.1f} ms, p99 {p.p99_ms:.1f} ms; "
                f"{cpu_note(p.cpu, p.requests)}",
            ),
            Row(
                f"helpdesk ({_workers(p.processes)}) CPU per ticket (all processes)",
                p.cpu_ms_per_item,
                "ms",
                "incl. PostgreSQL",
            ),
            Row(
                f"Steward / helpdesk ({_workers(p.processes)})",
                ratio(steward.rate, p.rate),
                "ratio",
                "target ≥ 3 with the same number of server processes"
                if p.processes == steward.processes
                else f"Steward {steward.processes} processes vs {p.processes}",
            ),
            Row(
                f"helpdesk ({_workers(p.processes)}) CPU per ticket / Steward CPU per filing",
                ratio(p.cpu_ms_per_item, steward.cpu_ms_per_item),
                "ratio",
                "all processes on each side: the work per item, whatever else the machine runs",
            ),
        ]
    return out


async def run(seconds: float, workers: list[int], rounds: int, console: Console) -> list[Row]:
    from steward.devtools.infra import ExternalNats, ExternalPostgres, database_server, nats_server

    pg = database_server(fast_unsafe=True)
    try:
        nats_srv = nats_server()
        try:
            ctx = BenchContext(
                nats_url=nats_srv.url,
                server=pg,
                server_note="external" if isinstance(pg, ExternalPostgres) else "embedded, fsync off",
                nats_pid=None if isinstance(nats_srv, ExternalNats) else getattr(nats_srv.proc, "pid", None),
            )
            try:
                with tempfile.TemporaryDirectory(prefix="steward-peer-") as tmp:
                    workdir = Path(tmp)
                    wrk_binary()
                    peer = Peer(ctx, workdir, console)
                    await peer.prepare()
                    steward = Steward(ctx, workdir)
                    ours = Side("Steward POST /v1/matters (issues + registry)", 2, [], {})
                    theirs = [
                        Side(
                            f"django-helpdesk POST /helpdesk/api/tickets/ (gunicorn, {_workers(n)})",
                            n,
                            [],
                            {},
                        )
                        for n in workers
                    ]
                    for i in range(rounds):  # the sides alternate: load from elsewhere hits both alike
                        await steward.measure(ours, seconds, workdir)
                        line = f"peer: round {i + 1}: Steward {ours.loads[-1].rate:.1f}/s"
                        for n, side in zip(workers, theirs, strict=True):
                            await peer.measure(side, n, seconds)
                            line += f", helpdesk ({_workers(n)}) {side.loads[-1].rate:.1f}/s"
                        console.print(line)
                    out = rows(ours, theirs, seconds)
                    tickets, followups = await peer.counts()
                    answered = sum(s.requests for s in theirs)
                    out.append(
                        Row(
                            "helpdesk tickets in its database",
                            tickets,
                            "tickets",
                            f"≥ {answered} answered 2xx in the measured runs (+ warm-ups); {followups} follow-ups",
                        )
                    )
                    if tickets < answered:
                        raise RuntimeError(f"helpdesk has {tickets} tickets, {answered} were answered 2xx")
                    return out
            finally:
                ctx.drop_databases()
        finally:
            nats_srv.stop()
    finally:
        pg.stop()


def _fmt(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.peer_helpdesk", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10.0, help="wrk duration per side (default 10)")
    p.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="gunicorn worker counts (default 1 2)"
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="alternate the sides this many times; the median rate (default 3)",
    )
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the results as JSON")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.seconds < 1 or min(args.workers) < 1:
        p.error("--rounds, --seconds and --workers must be ≥ 1")
    from bench.__main__ import machine_info

    console = Console() if sys.stdout.isatty() else Console(width=160)
    info = machine_info() | {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out = asyncio.run(run(args.seconds, args.workers, args.rounds, console))
    info["load_after"] = round(os.getloadavg()[0], 2)
    table = Table(
        title="Steward against django-helpdesk 2.6.1 (same PostgreSQL, same wrk load, one run)",
        caption=(
            f"{info['cores']} cores ({info['usable_cores']} usable) · {info['cpu']} · {info['memory_gib']} GiB · "
            f"Python {info['python']} · load avg (1 min) {info['load_before']} before, {info['load_after']} after"
        ),
        caption_justify="left",
    )
    table.add_column("name")
    table.add_column("value", justify="right")
    table.add_column("unit")
    table.add_column("note", overflow="fold")
    for r in out:
        table.add_row(r.name, _fmt(r.value), r.unit, r.note)
    console.print(table)
    if args.json:
        doc = {"machine": info, "rows": [asdict(r) for r in out]}
        args.json.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        console.print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
