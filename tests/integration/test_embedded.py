"""The embedded servers serve real clients, restart in place, and leave nothing running."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # stubs omit the re-export
    AdminClient,
    NewTopic,
)

from infrastructure.embedded.servers import EmbeddedServers, EmbeddedUrls

REPO_ROOT = Path(__file__).resolve().parents[2]


def port_of(url: str) -> int:
    port = urlsplit(url if "://" in url else f"tcp://{url}").port
    assert port is not None
    return port


def accepts_connections(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def urls_ports(urls: EmbeddedUrls) -> list[int]:
    found = [urls.database_url, urls.redis_url, urls.kafka_bootstrap_servers]
    return [port_of(url) for url in found if url is not None]


def produce_and_consume(bootstrap: str, count: int) -> list[bytes]:
    topic = f"embedded-{uuid.uuid4().hex}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, num_partitions=1)]).values():
        future.result(timeout=10)

    producer = Producer({"bootstrap.servers": bootstrap})
    for number in range(count):
        producer.produce(topic, value=f"message-{number}".encode())
    assert producer.flush(10) == 0

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"group-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
        }
    )
    received: list[bytes] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 30
        while len(received) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            value = message.value()
            assert value is not None
            received.append(value)
    finally:
        consumer.close()
    return received


def test_servers_serve_real_clients_and_stop_closes_their_ports(tmp_path: Path) -> None:
    servers = EmbeddedServers(tmp_path / "data")
    urls = servers.start()
    try:
        assert urls.database_url is not None
        assert urls.redis_url is not None
        assert urls.kafka_bootstrap_servers is not None
        assert servers.start() == urls

        with psycopg.connect(urls.database_url, autocommit=True) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
            conn.execute("INSERT INTO notes VALUES (1, 'kept')")
            assert conn.execute("SHOW fsync").fetchone() == ("on",)

        client = redis.Redis.from_url(urls.redis_url)
        try:
            client.set("greeting", "hello")
            assert client.get("greeting") == b"hello"
        finally:
            client.close()

        received = produce_and_consume(urls.kafka_bootstrap_servers, count=10)
        assert received == [f"message-{number}".encode() for number in range(10)]
    finally:
        servers.stop()

    assert not any(accepts_connections(port) for port in urls_ports(urls))
    for name in ("postgres", "redis", "kafka"):
        assert (tmp_path / "data" / name / f"{name}.log").exists()
    servers.stop()  # a second stop is harmless


def test_restart_postgres_keeps_its_data_and_port(tmp_path: Path) -> None:
    servers = EmbeddedServers(tmp_path / "data", redis=False, kafka=False)
    urls = servers.start()
    try:
        assert urls.redis_url is None
        assert urls.kafka_bootstrap_servers is None
        assert urls.database_url is not None
        with psycopg.connect(urls.database_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE survivors (name text)")
            conn.execute("INSERT INTO survivors VALUES ('durable')")

        servers.restart_postgres()

        assert servers.urls() == urls
        with psycopg.connect(urls.database_url) as conn:
            assert conn.execute("SELECT name FROM survivors").fetchall() == [("durable",)]
    finally:
        servers.stop()

    with EmbeddedServers(tmp_path / "data", redis=False, kafka=False) as reopened:
        assert reopened.database_url is not None
        with psycopg.connect(reopened.database_url) as conn:
            assert conn.execute("SELECT name FROM survivors").fetchall() == [("durable",)]


def test_stopped_postgres_refuses_connections_then_returns_on_the_same_port(
    tmp_path: Path,
) -> None:
    servers = EmbeddedServers(tmp_path / "data", redis=False, kafka=False)
    urls = servers.start()
    try:
        assert urls.database_url is not None
        servers.stop_postgres()
        assert not accepts_connections(port_of(urls.database_url))
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(urls.database_url, connect_timeout=2).close()

        servers.start_postgres()
        assert servers.urls() == urls
        with psycopg.connect(urls.database_url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        servers.stop()


def test_restart_kafka_serves_again_on_the_same_address(tmp_path: Path) -> None:
    servers = EmbeddedServers(tmp_path / "data", postgres=False, redis=False)
    urls = servers.start()
    try:
        assert urls.kafka_bootstrap_servers is not None
        servers.restart_kafka()
        assert servers.urls() == urls
        received = produce_and_consume(urls.kafka_bootstrap_servers, count=3)
        assert received == [b"message-0", b"message-1", b"message-2"]
    finally:
        servers.stop()


def test_data_folder_is_reusable_after_the_owner_was_killed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # Started from a non-main thread, the servers outlive a killed owner: the worst case.
    owner = textwrap.dedent(
        f"""
        import sys, threading
        from pathlib import Path
        from infrastructure.embedded.servers import EmbeddedServers
        servers = EmbeddedServers(Path({str(data_dir)!r}))
        worker = threading.Thread(target=servers.start)
        worker.start()
        worker.join()
        print(servers.urls().database_url, flush=True)
        sys.stdin.read()
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", owner],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdin is not None
    orphan_url = process.stdout.readline().strip()
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    process.stdin.close()
    process.stdout.close()
    assert accepts_connections(port_of(orphan_url))

    servers = EmbeddedServers(data_dir)
    urls = servers.start()
    try:
        assert not accepts_connections(port_of(orphan_url))
        assert urls.database_url is not None
        with psycopg.connect(urls.database_url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        servers.stop()
    assert not any(accepts_connections(port) for port in urls_ports(urls))
