"""A warm ``steward dev up`` runs only the migrations and seeds that have something to do."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from steward.devtools import cli, warmstart
from steward.devtools.services import SERVICES, ServiceSpec
from steward.kit.migrations import upgrade

SPECS = {spec.name: spec for spec in SERVICES}


def test_only_a_database_behind_its_head_is_migrated(make_database: Callable[..., str]) -> None:
    notify, console = SPECS["notify"], SPECS["console"]
    url = make_database("warm_notify")
    assert warmstart.behind([notify, console], {"notify": url, "console": "—"}) == [notify]
    scripts = warmstart.migrations_dir(notify)
    assert scripts is not None and scripts.name == "migrations"
    upgrade(scripts, url)
    assert warmstart.behind([notify, console], {"notify": url, "console": "—"}) == []


def test_a_seed_key_names_the_database_and_the_sources(
    make_database: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = make_database("warm_a"), make_database("warm_b")
    registry = SPECS["registry"]
    key = warmstart.seed_key(registry, first)
    assert key is not None and key == warmstart.seed_key(registry, first)
    assert warmstart.seed_key(registry, second) != key  # another database: another OID
    # a service's own sources: a changed file changes the key
    package = tmp_path / "warm_fake_service"
    package.mkdir()
    source = package / "demo.py"
    source.write_text("DEMO = 1\n")
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    fake = ServiceSpec("fake", "warm_fake_service", 0, 0, "")
    before = warmstart.seed_key(fake, "—")
    source.write_text("DEMO = 22\n")
    assert warmstart.seed_key(fake, "—") != before
    sys.modules.pop("warm_fake_service", None)


def test_seeds_that_ran_on_the_same_key_are_left_out_and_a_rerun_wave_reruns_the_later_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = {name: f"{name}-1" for name in SPECS}
    ran: list[str] = []
    failing: set[str] = set()

    def run(spec: ServiceSpec, command: str, env: dict[str, str], log: Path) -> None:
        assert command == "seed"
        if spec.name in failing:
            raise RuntimeError(f"{spec.name} seed failed")
        ran.append(spec.name)

    monkeypatch.setattr(warmstart, "seed_key", lambda spec, url: keys[spec.name])
    monkeypatch.setattr(cli, "_run_command", run)
    specs = list(SERVICES)
    envs = {spec.name: {} for spec in specs}
    urls = {spec.name: "" for spec in specs}

    def seed(*, reseed: bool = False) -> list[str]:
        ran.clear()
        cli._seed(specs, envs, urls, tmp_path, warmstart.SeedRecord(tmp_path), reseed=reseed)
        return sorted(ran)

    every = sorted(SPECS)
    later = sorted(set(SPECS) - {"registry", "issues"})
    assert seed() == every  # a new data directory
    assert seed() == []  # nothing changed: nothing runs
    keys["scoring"] = "scoring-2"
    assert seed() == ["scoring"]  # the last wave: only itself
    keys["issues"] = "issues-2"
    assert seed() == sorted(["issues", *later])  # issues and every seed that builds on it
    keys["registry"] = "registry-2"
    assert seed() == every
    assert seed(reseed=True) == every
    keys["notify"] = "notify-2"
    failing.add("notify")
    with pytest.raises(RuntimeError):
        seed()
    failing.clear()
    assert seed() == ["notify"]  # a failed seed is not recorded as run
    keys["meetings"] = None  # type: ignore[assignment]  # the database could not be identified
    assert seed() == ["meetings"]
    assert seed() == ["meetings"]
