"""Benchmark plumbing: a PostgreSQL server (configured or embedded), fresh databases, results."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import psycopg

from infrastructure.settings import database_parts

RESULTS = Path(__file__).parent / "results"


@contextmanager
def configured_or_embedded(service: str) -> Iterator[str]:
    """The URL of ``service`` ("postgres", "redis" or "kafka"): from MASTERY_DATABASE_URL,
    MASTERY_REDIS_URL or MASTERY_KAFKA_BOOTSTRAP_SERVERS, else an embedded server for the run."""
    variable = {
        "postgres": "MASTERY_DATABASE_URL",
        "redis": "MASTERY_REDIS_URL",
        "kafka": "MASTERY_KAFKA_BOOTSTRAP_SERVERS",
    }[service]
    configured = os.environ.get(variable)
    if configured:
        yield configured
        return
    from infrastructure.embedded.servers import EmbeddedServers

    with (
        tempfile.TemporaryDirectory(prefix=f"mastery-bench-{service}-") as folder,
        EmbeddedServers(
            Path(folder),
            postgres=service == "postgres",
            redis=service == "redis",
            kafka=service == "kafka",
        ) as urls,
    ):
        url = {
            "postgres": urls.database_url,
            "redis": urls.redis_url,
            "kafka": urls.kafka_bootstrap_servers,
        }[service]
        assert url is not None
        yield url


def postgres_server() -> AbstractContextManager[str]:
    return configured_or_embedded("postgres")


@contextmanager
def fresh_database(server_url: str, label: str) -> Iterator[str]:
    parts = database_parts(server_url)
    password = f":{parts.password}" if parts.password else ""
    base = f"postgresql://{parts.user}{password}@{parts.host}:{parts.port}"
    name = f"bench_{label}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_facts(url: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:

        def show(name: str) -> str:
            row = conn.execute(f"SHOW {name}").fetchone()
            return str(row[0]) if row else "?"

        return {
            "server_version": show("server_version"),
            "synchronous_commit": show("synchronous_commit"),
            "fsync": show("fsync"),
        }


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }


def write_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return path
