"""A Steward service as its own process, for tests that kill it: ``python -m steward.<name> serve``
on fixed ports, so a restart keeps its address (the fault suite kills each part in turn)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from pydantic import BaseModel

from steward.devtools.procs import free_port, spawn, terminate


class ServiceProcess:
    """``python -m steward.<name> serve`` on fixed ports (so a restart keeps its address), its
    settings passed as ``STEWARD_*`` variables like the dev runner does; each start a new instance
    id, and ready means ``/readyz`` answers 200 from *this* instance."""

    def __init__(self, name: str, settings: BaseModel, log: Path, *, jwt_secret: str) -> None:
        self.name, self.log = name, log
        self.http_port, self.grpc_port = free_port(), free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.instance = ""
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
        for key, value in settings.model_dump(mode="json").items():
            if value is not None and value != "**********":  # unset, or a secret (set below)
                self.env[f"STEWARD_{key.upper()}"] = (
                    json.dumps(value) if isinstance(value, list | dict) else str(value)
                )
        self.env |= {
            "STEWARD_SERVICE_NAME": name,
            "STEWARD_JWT_DEV_SECRET": jwt_secret,
            "STEWARD_HTTP_PORT": str(self.http_port),
            "STEWARD_GRPC_PORT": str(self.grpc_port),
            "PYTHONUNBUFFERED": "1",
        }

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def spawn(self) -> subprocess.Popen[bytes]:
        self.instance = secrets.token_hex(8)
        with self.log.open("ab") as out:
            out.write(f"\n=== python -m steward.{self.name} serve ({self.instance}) ===\n".encode())
        self.proc = spawn(  # its own session, and a parent-death signal: never outlives the test
            [sys.executable, "-m", f"steward.{self.name}", "serve"],
            log_path=self.log,
            env={**self.env, "STEWARD_INSTANCE_ID": self.instance},
        )
        return self.proc

    async def start(self, within: float = 90.0) -> None:
        proc = self.spawn()
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2) as http:
            while time.monotonic() < deadline:
                assert proc.poll() is None, f"{self.name} exited: {self.log.read_text()[-3000:]}"
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    r = await http.get(f"{self.base_url}/readyz")
                    if r.status_code == 200 and r.json().get("instance") == self.instance:
                        return
                await asyncio.sleep(0.2)
        raise AssertionError(f"{self.name} not ready within {within}s: {self.log.read_text()[-3000:]}")

    def kill9(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, f"{self.name} is not running"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc, timeout=15.0)  # SIGTERM, then SIGKILL of what is left
