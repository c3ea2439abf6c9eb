"""The platform for the console's tests: registry, issues and notify in-process (loopback ports) on
the session's PostgreSQL and NATS, with the demo data; the console served on a free loopback port;
Debian's Chromium driven by Playwright (Playwright downloads no browser here).

The services get a NATS server of their own, so the demo's events never reach other tests'
consumers on the session's NATS."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from steward.console.testing import (
    LAUNCH_ARGS,
    Platform,
    Session,
    migrate_all,
    private_nats,
    running_platform,
)

CHROMIUM = Path(os.environ.get("STEWARD_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("STEWARD_TEST_ARTIFACTS", ".steward/test-artifacts")) / "console"


@pytest.fixture(scope="session")
def databases(make_database: Any) -> dict[str, str]:
    """Migrated databases (Alembic runs its own event loop, so this fixture is sync)."""
    return migrate_all(make_database)


@pytest.fixture(scope="session")
def console_nats() -> Iterator[str]:
    with private_nats() as url:
        yield url


@pytest.fixture(scope="session")
async def platform(databases: dict[str, str], console_nats: str) -> AsyncIterator[Platform]:
    async with running_platform(databases, console_nats) as p:
        yield p


# ------------------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium: missing is a failure with the fix, never a silent skip."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the console's browser tests need Debian's Chromium "
            "(`make browser` installs it as root: apt-get install -y chromium)",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: Path) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    pw = await async_playwright().start()
    browser = await pw.chromium.launch(executable_path=str(chromium), args=LAUNCH_ARGS)
    try:
        yield browser
    finally:
        await browser.close()
        await pw.stop()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
async def session(browser: Any, platform: Platform, request: pytest.FixtureRequest) -> AsyncIterator[Session]:
    context = await browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 768})
    page = await context.new_page()
    page.set_default_timeout(15_000)
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    try:
        yield Session(page=page, base=platform.console, requests=seen)
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-120:]
            try:
                await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
                (ARTIFACTS / f"{name}.html").write_text(await page.content())
            except Exception as exc:  # the page may be gone; keep the failure readable
                print(f"console: no screenshot for {name}: {exc}")
        await context.close()
