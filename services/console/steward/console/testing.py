"""Test support for the console: the platform it runs against and a signed-in browser session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from steward.kit.auth import mint_dev_token

SECRET = "test-secret-registry-0123456789abcdef"  # the registry/issues/notify harnesses' dev secret
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@dataclass
class Platform:
    console: str
    registry: str
    issues: str
    notify: str
    meetings: str = ""
    scoring: str = ""
    # the running replicas (``steward.<name>.testing`` harness objects: ``db``, ``clock``, ``runtime``…)
    services: dict[str, Any] = field(default_factory=dict)
    seeded: dict[str, str] = field(default_factory=dict)  # each demo seed's summary line
    http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=30))

    @staticmethod
    def auth(tenant: str, role: str, *, sub: str = "console-test", unit: str | None = None) -> dict[str, str]:
        token = mint_dev_token(secret=SECRET, subject=sub, tenant=tenant, roles=[role], unit=unit)
        return {"Authorization": f"Bearer {token}"}

    async def get(self, url: str, tenant: str = "210100", role: str = "platform_admin", **params: Any) -> Any:
        resp = await self.http.get(url, params=params, headers=self.auth(tenant, role))
        resp.raise_for_status()
        return resp.json()


@dataclass
class Session:
    page: Any
    base: str
    requests: list[str]

    async def sign_in(self, person: str, role: str, tenant: str = "") -> None:
        await self.page.goto(f"{self.base}/signin")
        if person:
            await self.page.select_option("#person", person)
        await self.page.select_option("#role", role)
        if tenant:
            await self.page.select_option("#tenant", tenant)
        await self.page.click("form[action='/signin/dev'] button[type=submit]")
        await self.page.wait_for_url(f"{self.base}/")

    async def goto(self, path: str) -> Any:
        return await self.page.goto(f"{self.base}{path}")


@contextmanager
def private_nats() -> Iterator[str]:
    """A JetStream NATS of the console's own (from the pip wheel): the demo's events (tenant 210100)
    must not reach other tests' consumers on a shared server, and the services publish on the
    standard subjects, so a separate server is the isolation."""
    from steward.devtools.infra import LocalNats

    server = LocalNats().start()
    try:
        yield server.url
    finally:
        server.stop()


def migrate_all(make_database: Callable[[str], str]) -> dict[str, str]:
    """New, migrated databases for the registry, issues, notify, meetings and scoring (sync: Alembic
    runs its own loop)."""
    from steward.issues.testing import migrate as migrate_issues
    from steward.meetings.testing import migrate as migrate_meetings
    from steward.notify.testing import migrate as migrate_notify
    from steward.registry.testing import migrate as migrate_registry
    from steward.scoring.testing import migrate as migrate_scoring

    return {
        "registry": migrate_registry(make_database("console_registry")),
        "issues": migrate_issues(make_database("console_issues")),
        "notify": migrate_notify(make_database("console_notify")),
        "meetings": migrate_meetings(make_database("console_meetings")),
        "scoring": migrate_scoring(make_database("console_scoring")),
    }


@asynccontextmanager
async def running_platform(
    databases: dict[str, str], nats_url: str, **console_settings: Any
) -> AsyncIterator[Platform]:
    """Registry, issues, notify, meetings and scoring in this event loop with their demo data, and
    the console in front of them (dev sign-in; ``STEWARD_MEETINGS_URL`` and ``STEWARD_SCORING_URL``
    set). Give it a NATS of its own (:func:`private_nats`).

    Every service runs on the wall clock with its timers on (as under ``make run``): the meetings
    service files each decision as a ``decision`` matter in the issues service by its own timer.
    ``databases`` without ``meetings``/``scoring`` starts the first three only."""
    from steward.console.app import build
    from steward.console.settings import ConsoleSettings
    from steward.issues.demo import seed_demo as seed_issues
    from steward.issues.testing import issues_settings, running_issues
    from steward.kit.testing import serving
    from steward.notify.demo import seed_demo as seed_notify
    from steward.notify.testing import free_port, notify_settings, running_notify
    from steward.registry.demo import seed_demo as seed_registry
    from steward.registry.testing import running_registry

    registry_db, issues_db, notify_db = databases["registry"], databases["issues"], databases["notify"]
    seeded: dict[str, str] = {}
    async with running_registry(registry_db, nats_url) as registry:
        # seed before the other services start: their sweepers would hold the rows the seed
        # updates; the seeded events wait in the outboxes and flow once the relays run
        seeded["registry"] = str(await seed_registry(registry.settings))
        seeded["issues"] = str(await seed_issues(issues_settings(issues_db, nats_url, registry.grpc_target)))
        n_settings = notify_settings(
            notify_db,
            nats_url,
            registry.grpc_target,
            smtp_port=free_port(),
            # nothing listens on the SMTP port: one failed attempt per email, not a retry storm
            delivery_max_attempts=1,
            delivery_poll_seconds=1.0,
        )
        seeded["notify"] = str(await seed_notify(n_settings))
        async with (
            running_notify(n_settings) as notify,
            running_issues(issues_db, nats_url, registry.grpc_target) as issues,
            _optional_meetings(
                databases, nats_url, registry.grpc_target, issues.grpc_target, seeded
            ) as meetings,
            _optional_scoring(databases, nats_url, registry.grpc_target, seeded) as scoring,
        ):
            settings = ConsoleSettings(
                environment="dev",
                jwt_dev_secret=SECRET,
                registry_url=registry.base_url,
                issues_url=issues.base_url,
                notify_url=notify.base_url,
                meetings_url=meetings.base_url if meetings else None,
                scoring_url=scoring.base_url if scoring else None,
                dev_root_tenant="210100",
                log_json=False,
                **console_settings,
            )
            async with serving(build(settings), name="console") as console:
                services: dict[str, Any] = {"registry": registry, "issues": issues, "notify": notify}
                if meetings:
                    services["meetings"] = meetings
                if scoring:
                    services["scoring"] = scoring
                p = Platform(
                    console=console,
                    registry=registry.base_url,
                    issues=issues.base_url,
                    notify=notify.base_url,
                    meetings=meetings.base_url if meetings else "",
                    scoring=scoring.base_url if scoring else "",
                    services=services,
                    seeded=seeded,
                )
                await _wait_for_overdue(p)
                try:
                    yield p
                finally:
                    await p.http.aclose()


@asynccontextmanager
async def _optional_meetings(
    databases: dict[str, str], nats_url: str, registry_target: str, issues_target: str, seeded: dict[str, str]
) -> AsyncIterator[Any]:
    """The meetings service with the demo series of 铁西区 (seeded before it starts; its timers on, so
    the demo's decisions are filed as matters in the running issues service)."""
    db_url = databases.get("meetings")
    if not db_url:
        yield None
        return
    from steward.kit.db import retry_conflicts
    from steward.meetings.demo import seed_demo
    from steward.meetings.testing import meetings_settings, running_meetings

    settings = meetings_settings(db_url, nats_url, registry_target, issues_target)
    seeded["meetings"] = str(await retry_conflicts(lambda: seed_demo(settings)))
    async with running_meetings(db_url, nats_url, registry_target, issues_target, timers_enabled=True) as svc:
        yield svc


@asynccontextmanager
async def _optional_scoring(
    databases: dict[str, str], nats_url: str, registry_target: str, seeded: dict[str, str]
) -> AsyncIterator[Any]:
    """The scoring service with its demo (铁西区's scorecards, rankings, surveys and lights; the
    city's district ranking), seeded before it starts."""
    db_url = databases.get("scoring")
    if not db_url:
        yield None
        return
    from steward.scoring.demo import seed_demo
    from steward.scoring.testing import running_scoring, scoring_settings

    seeded["scoring"] = str(await seed_demo(scoring_settings(db_url, nats_url, registry_target)))
    async with running_scoring(db_url, nats_url, registry_target) as svc:
        yield svc


async def _wait_for_overdue(p: Platform) -> None:
    """The demo files matters weeks ago; the issues sweeper marks them overdue within seconds."""
    for _ in range(150):
        page = await p.get(f"{p.issues}/v1/matters/queues/overdue", limit=5)
        if page["items"]:
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the demo's overdue matters never showed up")
