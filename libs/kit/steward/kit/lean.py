"""Imported first by each service's entry point (``python -m steward.<service>``), before anything
else loads: a service process never loads rich or pygments.

structlog imports rich and pygments whenever they are installed (they are: typer depends on rich),
for tracebacks in its development console renderer. A service renders its own log lines (JSON, or
structlog's plain console text in development) and never uses them: keeping them out saves about
3.5 MiB of resident memory per process (issue 15, goal 7). typer is told not to use rich either, so
its help and error output stays plain text. httpx tries its command line on import, which loads
pygments' lexers (0.5 MiB) before it finds rich missing: pygments is kept out too."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TYPER_USE_RICH", "0")  # read by typer when it is imported
sys.modules.setdefault("rich", None)  # type: ignore[arg-type]  # `import rich` raises ImportError
sys.modules.setdefault("pygments", None)  # type: ignore[arg-type]
