"""The embedded broker keeps what it acknowledged through ``kill -9`` of every process (SPEC §9).

The servers are the test's own, under its own data folder: an owner process starts them, then
the broker, its object store, PostgreSQL and the owner are all killed with SIGKILL, and a new
owner starts them again from the same folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # stubs omit the re-export
    AdminClient,
    NewTopic,
)

from infrastructure.embedded.servers import EmbeddedServers

REPO_ROOT = Path(__file__).resolve().parents[2]


def start_owner(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    """Another process owning the folder's servers; returns it and the broker's address."""
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from infrastructure.embedded.servers import EmbeddedServers
        servers = EmbeddedServers(Path({str(data_dir)!r}), postgres=False, redis=False)
        print(servers.start().kafka_bootstrap_servers, flush=True)
        sys.stdin.read()
        """
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None
    return owner, owner.stdout.readline().strip()


def kill_everything(owner: subprocess.Popen[str], data_dir: Path) -> None:
    """SIGKILL the broker, its object store and PostgreSQL, then their owner."""
    record = json.loads((data_dir / "embedded.json").read_text())
    assert set(record["pids"]) == {"postgres", "objects", "kafka"}
    for pid in record["pids"].values():
        os.kill(pid, signal.SIGKILL)
    owner.kill()
    owner.wait()
    for stream in (owner.stdin, owner.stdout):
        assert stream is not None
        stream.close()
    for pid in record["pids"].values():
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)


def produce_acknowledged(bootstrap: str, topic: str, count: int) -> set[bytes]:
    """Produce ``count`` messages with acks=all; return the values the broker acknowledged."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, num_partitions=3)]).values():
        future.result(timeout=20)
    acknowledged: set[bytes] = set()

    def on_delivery(error: KafkaError | None, message: object) -> None:
        value = getattr(message, "value", lambda: None)()
        if error is None and value is not None:
            acknowledged.add(value)

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for number in range(count):
        producer.produce(
            topic, key=str(number).encode(), value=f"m-{number}".encode(), on_delivery=on_delivery
        )
        producer.poll(0)
    assert producer.flush(60) == 0
    return acknowledged


def consume_all(bootstrap: str, topic: str, expected: int) -> set[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"durable-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
        }
    )
    received: set[bytes] = set()
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 90
        while len(received) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            value = message.value()
            if value is not None:
                received.add(value)
    finally:
        consumer.close()
    return received


def crash_and_recover(data_dir: Path, rounds: int, per_round: int) -> None:
    topic = f"durable-{uuid.uuid4().hex[:8]}"
    acknowledged: set[bytes] = set()
    for round_number in range(rounds):
        owner, bootstrap = start_owner(data_dir)
        if round_number == 0:
            acknowledged |= produce_acknowledged(bootstrap, topic, per_round)
        else:
            producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
            for number in range(per_round):
                producer.produce(topic, value=f"r{round_number}-{number}".encode())
            assert producer.flush(60) == 0
            acknowledged |= {f"r{round_number}-{n}".encode() for n in range(per_round)}
        kill_everything(owner, data_dir)

    with EmbeddedServers(data_dir, postgres=False, redis=False) as urls:
        assert urls.kafka_bootstrap_servers is not None
        received = consume_all(urls.kafka_bootstrap_servers, topic, len(acknowledged))
    assert len(acknowledged) == rounds * per_round
    assert acknowledged - received == set()


def test_acknowledged_messages_survive_kill_9_of_broker_and_postgres(tmp_path: Path) -> None:
    crash_and_recover(tmp_path / "data", rounds=1, per_round=500)


@pytest.mark.slow
def test_acknowledged_messages_survive_repeated_kill_9(tmp_path: Path) -> None:
    crash_and_recover(tmp_path / "data", rounds=5, per_round=3000)
