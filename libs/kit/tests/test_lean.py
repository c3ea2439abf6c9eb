"""A service process keeps rich and pygments out (``steward.kit.lean``, imported first by every
entry point): structlog would otherwise load both, 3.5 MiB of resident memory a process, and httpx
(its command line, tried on import) pygments' lexers before it finds rich missing."""

from __future__ import annotations

import subprocess
import sys

import pytest

SERVICES = ("registry", "issues", "meetings", "scoring", "notify", "console")
CHECK = (
    "import importlib, sys; importlib.import_module(sys.argv[1] + '.__main__'); "
    "importlib.import_module(sys.argv[1] + '.app'); import structlog, typer, httpx; "
    "loaded = sorted(m for m, v in sys.modules.items() if v is not None and m.split('.')[0] in ('rich', 'pygments')); "
    "print(loaded)"
)


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_process_loads_no_rich_nor_pygments(service: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK, f"steward.{service}"],  # the entry point, then what serve loads
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_its_help_and_errors_are_plain_text() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "steward.issues", "--help"], capture_output=True, text=True, timeout=120
    )
    assert shown.returncode == 0 and "Usage:" in shown.stdout and "serve" in shown.stdout, shown.stderr
    wrong = subprocess.run(
        [sys.executable, "-m", "steward.issues", "no-such-command"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert wrong.returncode == 2 and "No such command" in wrong.stderr
