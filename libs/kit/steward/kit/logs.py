"""Log throttling: a failure repeated many times (a dependency down for minutes under load) is
logged once per interval per kind, with the number of times it happened since, instead of a line
(or a traceback) per occurrence."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import structlog


class ThrottledLogger:
    def __init__(self, interval: float = 30.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], float] = {}
        self._suppressed: dict[tuple[str, str], int] = {}
        self._log = structlog.get_logger("steward.throttled")

    def _admit(self, event: str, key: str) -> int | None:
        """The number suppressed since the last line when this one is to be logged, else None."""
        now = self._clock()
        with self._lock:
            k = (event, key)
            last = self._last.get(k)
            if last is not None and now - last < self.interval:
                self._suppressed[k] = self._suppressed.get(k, 0) + 1
                return None
            self._last[k] = now
            if len(self._last) > 10_000:  # many distinct keys: forget the oldest half
                for old in sorted(self._last, key=self._last.__getitem__)[:5_000]:
                    self._last.pop(old, None)
                    self._suppressed.pop(old, None)
            return self._suppressed.pop(k, 0)

    def warning(self, event: str, *, key: str = "", **fields: Any) -> bool:
        return self._emit("warning", event, key, fields)

    def error(self, event: str, *, key: str = "", **fields: Any) -> bool:
        return self._emit("error", event, key, fields)

    def _emit(self, level: str, event: str, key: str, fields: dict[str, Any]) -> bool:
        suppressed = self._admit(event, key)
        if suppressed is None:
            return False
        if suppressed:
            fields["repeated"] = suppressed
            fields["interval_s"] = self.interval
        getattr(self._log, level)(event, **({"kind": key} if key else {}), **fields)
        return True


THROTTLED = ThrottledLogger()
