"""The broker's storage: the object store of :mod:`infrastructure.embedded.object_server`,
run as a child process that answers S3 from a database of its own on the embedded PostgreSQL.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path

import psycopg

from infrastructure.embedded.postgres import PostgresServer
from infrastructure.embedded.processes import LOOPBACK
from infrastructure.embedded.server import Server

BROKER_BUCKET = "tansu"
# The folder holding the ``infrastructure`` package, so that "-m" finds the object server.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class ObjectStoreServer(Server):
    """The broker's storage: S3 answered from a database of its own on the embedded PostgreSQL
    (``infrastructure/embedded/object_server.py``)."""

    name = "objects"
    database = "embedded_broker"

    def __init__(self, directory: Path, postgres: PostgresServer) -> None:
        super().__init__(directory)
        self.postgres = postgres

    def executable(self) -> Path:
        return Path(sys.executable)

    def command(self, port: int) -> list[str]:
        return [
            str(self.executable()),
            "-m", "infrastructure.embedded.object_server",
            str(port),
            self.database_url(),
        ]  # fmt: skip

    def database_url(self) -> str:
        url = self.postgres.url()
        assert url is not None, "PostgreSQL starts before the object store"
        return f"{url.rsplit('/', 1)[0]}/{self.database}"

    def prepare(self) -> None:
        super().prepare()
        server = self.postgres.url()
        assert server is not None
        with psycopg.connect(server, autocommit=True) as conn:
            found = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if found is None:
                conn.execute(f'CREATE DATABASE "{self.database}"')

    def environment(self) -> dict[str, str]:
        # Run from the project's folder whatever the caller's, so "-m" finds the module.
        path = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
        return {**os.environ, "PYTHONPATH": path}

    def probe(self, port: int) -> None:
        url = f"{self.url_for(port)}/{BROKER_BUCKET}?list-type=2&prefix=probe/"
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback http
            answer.read()

    def url_for(self, port: int) -> str:
        return f"http://{LOOPBACK}:{port}"
