"""Chaos soak (issue 11): mixed ingest under random kills, restarts and erasures, then checks.

The soak starts its own servers in a temporary folder (embedded PostgreSQL, Redis and tansu,
never the machine's shared services) and runs the product as a user runs it: ``mastery
project``, ``mastery publish``, ``mastery consume`` and ``mastery serve`` as separate OS
processes. Meanwhile three drivers ingest (HTTP batches, Kafka produce with ``acks=all``,
``mastery backfill`` files) with duplicates, conflicts and bad input mixed in, and a fault
thread, on a schedule drawn from the seed, kills (SIGKILL, whole process group) and restarts a
worker process or a server (PostgreSQL, Redis, the broker, the broker's object storage), or
erases a random student (API or CLI). The ledger keeps what the product confirmed:
an event answered ``recorded`` / ``duplicate`` / ``conflict`` over HTTP, acknowledged by the
broker, or written to a backfill file.

At the end everything is restarted, failed erasures retried, every backfill file run again (the
documented recovery of an interrupted backfill), the pipeline drained (polling, with a
deadline), and each check is reported on its own, with evidence:

  store_check            ``mastery store check --json`` exits 0
  confirmed_stored       every confirmed event of a student not erased is in the store
  no_phantoms            nothing is stored that no driver sent as a valid event
  read_models_rebuild    the live read models equal a clean rebuild under a second prefix
  erased_unreadable      no key, roster entry or API read of an erased student (404/410)
  results_caught_up      the results publisher and the projector are at the store's head
  workers_survive        no worker process exited on its own during the soak
  ready                  ``/readyz`` answers 200 after the drain

Event contents and the fault schedule come from the seed; thread interleavings do not, so two
runs with one seed differ in timing only. Every fault is recorded with its time.

Writes bench/results/chaos.json.

Usage: python bench/chaos.py [--seed 7] [--duration 180] [--events 100000] [--faults 50]
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import orjson
import psycopg
import redis
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # stubs omit the re-export
    AdminClient,
    NewTopic,
)

from bench.common import machine, write_result
from infrastructure.auth.policy import Role
from infrastructure.auth.tokens import mint_token
from infrastructure.embedded.servers import EmbeddedServers

TENANT = "chaos"
LIVE_PREFIX = "live:"
REBUILD_PREFIX = "rebuild:"
REQUESTS_TOPIC = "mastery.requests"
TOPICS = (REQUESTS_TOPIC, "mastery.results", "mastery.dlq")
PARTITIONS = 3
BASE_DAY = datetime(2026, 1, 1, tzinfo=UTC)
COMPONENTS = ("completion", "quiz", "quality", "consistency")
TOPICS_OF_STUDY = ("python.loops", "python.functions", "sql.joins", "algorithms.sorting")
WORKERS = ("projector", "publisher", "consumer", "api")
SERVERS = ("redis", "postgres", "broker", "broker_storage")
FAULT_KINDS = (*(f"kill_{w}" for w in WORKERS), *(f"kill_{s}" for s in SERVERS), "erase")
COMMAND_TIMEOUT = 120.0
SAMPLE = 10
READ_MODEL_FAMILIES = ("student:", "class:", "tenant:")  # SPEC §5


@dataclass(frozen=True)
class SoakConfig:
    seed: int = 7
    duration: float = 30.0  # seconds of chaos at least
    min_events: int = 0  # confirmed-or-sent events at least (the run goes on until reached)
    min_faults: int = 0
    max_seconds: float = 120.0  # hard limit of the chaos phase
    students: int = 150
    http_batch: int = 100
    kafka_batch: int = 200
    kafka_rate: float = 300.0  # messages per second at most (the consumer must keep up)
    backfill_lines: int = 400
    fault_gap: tuple[float, float] = (1.5, 3.5)
    drain_seconds: float = 120.0
    stall_seconds: float = 25.0
    keep_folder: bool = False


@dataclass
class Fault:
    at: float  # seconds since the chaos began
    kind: str
    target: str
    detail: str = ""
    recovered_at: float | None = None
    error: str | None = None


@dataclass
class Check:
    name: str
    passed: bool
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


# --- the ledger ---------------------------------------------------------------------------------


class Ledger:
    """What was sent and what the product confirmed, by event_id (one tenant)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.valid_sent: set[str] = set()
        self.confirmed: dict[str, str] = {}  # event_id -> how ("http:recorded", "kafka", ...)
        self.confirmed_at: dict[str, float] = {}  # event_id -> monotonic time of confirmation
        self.student_of: dict[str, str] = {}
        self.history: list[dict[str, Any]] = []  # valid events sent, for duplicates/conflicts
        self.outcomes: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()

    def sent_valid(self, source: str, event: dict[str, Any]) -> None:
        with self._lock:
            self.valid_sent.add(event["event_id"])
            self.student_of[event["event_id"]] = event["student_id"]
            self.history.append(event)
            self.sent[source] += 1

    def sent_other(self, source: str, kind: str) -> None:
        with self._lock:
            self.sent[f"{source}:{kind}"] += 1

    def confirm(self, event_id: str, how: str) -> None:
        with self._lock:
            if event_id not in self.confirmed:
                self.confirmed[event_id] = how
                self.confirmed_at[event_id] = time.monotonic()
            self.outcomes[how] += 1

    def count(self, outcome: str) -> None:
        with self._lock:
            self.outcomes[outcome] += 1

    def earlier(self, rng: random.Random) -> dict[str, Any] | None:
        """An event sent before, by any driver. One draw whatever the history's length, so
        that a driver's stream of draws does not depend on the other drivers' timing."""
        draw = rng.random()
        with self._lock:
            return self.history[int(draw * len(self.history))] if self.history else None

    def total_sent(self) -> int:
        with self._lock:
            return sum(self.sent.values())


# --- events -------------------------------------------------------------------------------------


def student_ids(count: int) -> list[str]:
    return [f"s{index:04d}" for index in range(count)]


def class_of(student: str) -> str:
    return f"c{int(student[1:]) % 6}"


def learning_event(rng: random.Random, event_id: str, student: str) -> dict[str, Any]:
    component = rng.choice(COMPONENTS)
    data: dict[str, Any]
    if component == "completion":
        total = rng.randint(1, 40)
        data = {
            "total_exercises": total,
            "completed_exercises": rng.randint(0, total),
            "difficulty": rng.choice(("beginner", "intermediate", "advanced")),
        }
    elif component == "quiz":
        total = rng.randint(1, 20)
        data = {
            "total_questions": total,
            "correct_answers": rng.randint(0, total),
            "attempts": rng.randint(1, 4),
        }
    elif component == "quality":
        data = {
            k: round(rng.random(), 3) for k in ("avg_code_quality", "correctness", "efficiency")
        }
    else:
        data = {"activity": "session"}
    moment = BASE_DAY + timedelta(days=rng.randint(0, 59), seconds=rng.randint(0, 86_399))
    return {
        "event_id": event_id,
        "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tenant_id": TENANT,
        "student_id": student,
        "class_id": class_of(student),
        "component": component,
        "topic": rng.choice(TOPICS_OF_STUDY),
        "data": data,
        "metadata": {"source": "chaos"},
    }


def bad_event(rng: random.Random, event_id: str, student: str) -> dict[str, Any]:
    event = learning_event(rng, event_id, student)
    spoil = rng.randrange(4)
    if spoil == 0:
        event["component"] = "telepathy"
    elif spoil == 1:
        event["timestamp"] = "2026-01-05T10:00:00"  # naive
    elif spoil == 2:
        del event["student_id"]
    else:
        event["data"] = {**event["data"], "unknown_key": 1}
    return event


def conflicting(rng: random.Random, original: dict[str, Any]) -> dict[str, Any]:
    changed = dict(original)
    changed["metadata"] = {"source": "chaos", "conflict": rng.randint(1, 1_000_000)}
    return changed


class Mix:
    """A driver's stream: new valid events, duplicates, conflicts and bad input, from its seed."""

    def __init__(self, source: str, seed: int, students: list[str], ledger: Ledger) -> None:
        self.source = source
        self.rng = random.Random(f"{seed}:{source}")
        self.students = students
        self.ledger = ledger
        self.sequence = 0

    def next(self) -> tuple[str, dict[str, Any]]:
        """("valid" | "duplicate" | "conflict" | "bad", event)."""
        roll = self.rng.random()
        if roll < 0.05:
            earlier = self.ledger.earlier(self.rng)
            if earlier is not None:
                return "duplicate", earlier
        elif roll < 0.08:
            earlier = self.ledger.earlier(self.rng)
            if earlier is not None:
                return "conflict", conflicting(self.rng, earlier)
        self.sequence += 1
        event_id = f"{self.source}-{self.sequence:07d}"
        student = self.rng.choice(self.students)
        if roll > 0.97:
            return "bad", bad_event(self.rng, f"bad-{event_id}", student)
        return "valid", learning_event(self.rng, event_id, student)


# --- processes ----------------------------------------------------------------------------------


def mastery_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "api.cli.main", *args]


class WorkerProcess:
    """One ``mastery`` command in a session of its own (so SIGKILL reaches its children)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log_path = logs / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.expected_exit = False
        self.starts = 0
        self.lock = threading.RLock()  # the fault thread and the watchdog both (re)start it

    def start(self) -> None:
        with self.lock:
            if self.process is not None and self.process.poll() is None:
                return  # never two at once: the one running stays the one we track
            self._launch()

    def _launch(self) -> None:
        with self.log_path.open("ab") as log:
            log.write(f"=== start {self.starts} at {time.time():.3f}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                mastery_command(*self.args),
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                cwd=str(Path(__file__).resolve().parent.parent),
            )
        self.starts += 1
        self.expected_exit = False

    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def exited(self) -> int | None:
        """The exit code when the process has ended, None while it runs (or never started)."""
        return self.process.poll() if self.process is not None else None

    def kill(self) -> None:
        with self.lock:
            self.expected_exit = True
            if self.process is None:
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(15)

    def stop(self) -> None:
        with self.lock:
            self.expected_exit = True
            if self.process is None or self.process.poll() is not None:
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart_if_died(self) -> dict[str, Any] | None:
        """Start it again when it ended without being killed: its exit code and last log
        lines; None when it runs (or was killed on purpose)."""
        with self.lock:
            code = self.exited()
            if code is None or self.expected_exit:
                return None
            died = {"worker": self.name, "exit_code": code, "log_tail": self.tail()}
            self._launch()
            return died

    def errors(self, most: int = 5) -> dict[str, dict[str, Any]]:
        """The most frequent errors in the log (each exception's last line, or the message):
        how often, and the first occurrence's traceback (its last lines)."""
        found: Counter[str] = Counter()
        first: dict[str, list[str]] = {}
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return {}
        trace: list[str] | None = None
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                if line.startswith("Traceback"):
                    trace = [line]
                elif trace is not None and line.startswith((" ", "\t")):
                    trace.append(line)
                elif trace is not None:
                    error = f"traceback: {line[:200]}"
                    found[error] += 1
                    first.setdefault(error, [*trace[-10:], line])
                    trace = None
                elif line.startswith("error:"):
                    found[line[:200]] += 1
                continue
            if not isinstance(entry, dict) or entry.get("level") not in ("error", "critical"):
                continue
            exception = str(entry.get("exception") or "").strip().splitlines()
            error = (exception[-1] if exception else str(entry.get("event")))[:200]
            found[error] += 1
            first.setdefault(error, exception[-11:])
        return {
            error: {"count": count, "first_traceback": first.get(error, [])}
            for error, count in found.most_common(most)
        }

    def tail(self, lines: int = 15) -> list[str]:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        return text.splitlines()[-lines:]


def run_command(
    args: list[str], env: dict[str, str], timeout: float = COMMAND_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            mastery_command(*args),
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=str(Path(__file__).resolve().parent.parent),
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return subprocess.CompletedProcess(args, -9, out, f"timed out after {timeout:.0f}s")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def field_differences(live: Any, rebuilt: Any) -> dict[str, Any]:
    """The top-level fields in which two documents (or rosters) differ, values shortened."""
    if not (isinstance(live, dict) and isinstance(rebuilt, dict)):
        return {"live": str(live)[:300], "rebuild": str(rebuilt)[:300]}
    return {
        name: {"live": str(live.get(name))[:200], "rebuild": str(rebuilt.get(name))[:200]}
        for name in sorted(set(live) | set(rebuilt))
        if live.get(name) != rebuilt.get(name)
    }


def tail_of(text: str, lines: int = 12) -> list[str]:
    return text.strip().splitlines()[-lines:]


# --- the soak -----------------------------------------------------------------------------------


class Soak:
    def __init__(self, config: SoakConfig, folder: Path) -> None:
        self.config = config
        self.folder = folder
        self.logs = folder / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.backfills = folder / "backfill"
        self.backfills.mkdir(exist_ok=True)
        self.servers = EmbeddedServers(folder / "servers")
        self.ledger = Ledger()
        self.students = student_ids(config.students)
        self.faults: list[Fault] = []
        self.unexpected_exits: list[dict[str, Any]] = []
        self.erased: dict[str, float] = {}  # student -> when the erasure answered
        self.erase_pending: set[str] = set()
        self.backfill_files: list[Path] = []
        self.backfill_runs: Counter[str] = Counter()
        self.backfill_log: list[dict[str, Any]] = []
        self.stop_drivers = threading.Event()
        self.stop_faults = threading.Event()
        self.started = time.monotonic()
        self.driver_errors: Counter[str] = Counter()
        self.refused_batches: list[dict[str, Any]] = []  # HTTP batches not answered 200
        self._lock = threading.Lock()
        secrets = random.Random(f"{config.seed}:secrets")
        self.jwt_secret = secrets.randbytes(32).hex()
        self.master_key = base64.b64encode(secrets.randbytes(32)).decode()
        self.env: dict[str, str] = {}
        self.workers: dict[str, WorkerProcess] = {}
        self.http_port = free_port()

    # -- setup ---------------------------------------------------------------------------------

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 3)

    def start_servers(self) -> None:
        urls = self.servers.start()
        assert urls.database_url is not None
        assert urls.redis_url is not None
        assert urls.kafka_bootstrap_servers is not None
        self.database_url = urls.database_url
        self.redis_url = urls.redis_url
        self.bootstrap = urls.kafka_bootstrap_servers
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MASTERY_")},
            "MASTERY_DATABASE_URL": urls.database_url,
            "MASTERY_REDIS_URL": urls.redis_url,
            "MASTERY_KAFKA_BOOTSTRAP_SERVERS": urls.kafka_bootstrap_servers,
            "MASTERY_KAFKA_PARTITIONS": str(PARTITIONS),
            "MASTERY_KAFKA_CONSUMER_WORKERS": "1",
            "MASTERY_KAFKA_SESSION_TIMEOUT_MS": "6000",
            "MASTERY_DATA_DIR": str(self.folder / "data"),
            "MASTERY_REDIS_PREFIX": LIVE_PREFIX,
            "MASTERY_SNAPSHOT_TTL_DAYS": "0",
            "MASTERY_JWT_SECRET": self.jwt_secret,
            "MASTERY_MASTER_KEY": self.master_key,
            "MASTERY_HTTP_HOST": "127.0.0.1",
            "MASTERY_HTTP_PORT": str(self.http_port),
            "MASTERY_HTTP_WORKERS": "1",
            "MASTERY_PROJECTION_WORKERS": "1",
            "MASTERY_BACKFILL_WORKERS": "1",
        }
        migrated = run_command(["migrate"], self.env)
        if migrated.returncode != 0:
            raise RuntimeError(f"mastery migrate failed: {tail_of(migrated.stderr)}")
        self.ensure_topics()
        self.workers = {
            "projector": WorkerProcess("projector", ["project"], self.env, self.logs),
            "publisher": WorkerProcess("publisher", ["publish"], self.env, self.logs),
            "consumer": WorkerProcess(
                "consumer", ["consume", "--workers", "1"], self.env, self.logs
            ),
            "api": WorkerProcess("api", ["serve", "--workers", "1"], self.env, self.logs),
        }
        for worker in self.workers.values():
            worker.start()
        self.service_token = self.token("service", "chaos-agent")
        self.admin_token = self.token("admin", "chaos-admin")
        self.wait_for_api(60)

    def token(self, role: str, subject: str, classes: list[str] | None = None) -> str:
        return mint_token(
            role=Role(role),
            subject=subject,
            tenant_id=TENANT,
            key=self.jwt_secret,
            classes=classes or [],
            ttl=timedelta(hours=6),
        )

    def ensure_topics(self) -> None:
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
        existing = set(admin.list_topics(timeout=10).topics)
        missing = [NewTopic(t, num_partitions=PARTITIONS) for t in TOPICS if t not in existing]
        if not missing:
            return
        for future in admin.create_topics(missing, operation_timeout=10).values():
            with contextlib.suppress(KafkaException):
                future.result()

    def wait_for_api(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.api_url}/healthz", timeout=2).status_code == 200:
                    return True
            time.sleep(0.3)
        return False

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    # -- drivers ---------------------------------------------------------------------------------

    def http_driver(self) -> None:
        mix = Mix("http", self.config.seed, self.students, self.ledger)
        headers = {"Authorization": f"Bearer {self.service_token}"}
        with httpx.Client(base_url=self.api_url, headers=headers, timeout=15) as client:
            while not self.stop_drivers.is_set():
                batch: list[dict[str, Any]] = []
                kinds: list[str] = []
                for _ in range(self.config.http_batch):
                    kind, event = mix.next()
                    batch.append(event)
                    kinds.append(kind)
                    if kind == "valid":
                        self.ledger.sent_valid("http", event)
                    else:
                        self.ledger.sent_other("http", kind)
                try:
                    answer = client.post("/v1/events", json={"events": batch})
                except httpx.HTTPError as exc:
                    self.driver_errors[f"http:{type(exc).__name__}"] += 1
                    time.sleep(0.3)
                    continue
                if answer.status_code != 200:
                    self.driver_errors[f"http:status_{answer.status_code}"] += 1
                    self.refused_batches.append(
                        {
                            "at": self.elapsed(),
                            "status": answer.status_code,
                            "body": answer.text[:400],
                            "students": sorted({str(e.get("student_id")) for e in batch}),
                        }
                    )
                    time.sleep(0.3)
                    continue
                for event, outcome in zip(batch, answer.json()["outcomes"], strict=True):
                    status = outcome["status"]
                    if status in ("recorded", "duplicate", "conflict"):
                        self.ledger.confirm(event["event_id"], f"http:{status}")
                    else:
                        self.ledger.count(f"http:{status}:{outcome.get('code')}")
                time.sleep(0.02)

    def kafka_driver(self) -> None:
        mix = Mix("kafka", self.config.seed, self.students, self.ledger)
        producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "acks": "all",
                "linger.ms": 20,
                "message.timeout.ms": 30_000,
                "enable.idempotence": False,
                "log_level": 0,  # a broker down is part of the plan; the ledger has the outcome
            }
        )

        def delivered_for(event_id: str | None) -> Callable[[Any, Any], None]:
            def delivered(error: Any, _message: Any) -> None:
                if error is not None:
                    self.ledger.count("kafka:not_acknowledged")
                elif event_id is not None:
                    self.ledger.confirm(event_id, "kafka:acknowledged")

            return delivered

        began, produced = time.monotonic(), 0
        while not self.stop_drivers.is_set():
            ahead = began + produced / self.config.kafka_rate - time.monotonic()
            if ahead > 0:
                self.stop_drivers.wait(ahead)
                continue
            for _ in range(self.config.kafka_batch):
                produced += 1
                kind, event = mix.next()
                value = orjson.dumps(event)
                if kind == "bad" and mix.rng.random() < 0.3:
                    value = b'{"event_id": "broken' + value[:20]  # not JSON at all
                key = f"{TENANT}/{event.get('student_id', 'none')}".encode()
                if kind == "valid":
                    self.ledger.sent_valid("kafka", event)
                else:
                    self.ledger.sent_other("kafka", kind)
                acked_id = event["event_id"] if kind in ("valid", "duplicate") else None
                while not self.stop_drivers.is_set():
                    try:
                        producer.produce(
                            REQUESTS_TOPIC,
                            key=key,
                            value=value,
                            on_delivery=delivered_for(acked_id),
                        )
                        break
                    except BufferError:
                        producer.poll(0.2)
                    except KafkaException as exc:
                        self.driver_errors[f"kafka:{exc}"] += 1
                        time.sleep(0.5)
                        break
            producer.poll(0.05)
        remaining = producer.flush(40)
        if remaining:
            self.driver_errors["kafka:unflushed_at_end"] += remaining

    def backfill_driver(self) -> None:
        mix = Mix("backfill", self.config.seed, self.students, self.ledger)
        number = 0
        while not self.stop_drivers.is_set():
            number += 1
            path = self.backfills / f"batch-{number:04d}.jsonl"
            lines: list[bytes] = []
            for _ in range(self.config.backfill_lines):
                kind, event = mix.next()
                if kind == "valid":
                    self.ledger.sent_valid("backfill", event)
                    self.ledger.confirm(event["event_id"], "backfill:in_file")
                else:
                    self.ledger.sent_other("backfill", kind)
                if kind == "bad" and mix.rng.random() < 0.3:
                    lines.append(b"{this is not json")
                else:
                    lines.append(orjson.dumps(event))
            path.write_bytes(b"\n".join(lines) + b"\n")
            self.backfill_files.append(path)
            result = run_command(["backfill", str(path), "--workers", "1"], self.env)
            self.backfill_runs[f"exit_{result.returncode}"] += 1
            self.backfill_log.append(
                {
                    "at": self.elapsed(),
                    "file": path.name,
                    "exit": result.returncode,
                    "summary": [line for line in tail_of(result.stdout, 6) if "│" in line],
                    "stderr": tail_of(result.stderr, 3),
                }
            )
            self.stop_drivers.wait(0.5)

    # -- faults ----------------------------------------------------------------------------------

    def fault_thread(self) -> None:
        rng = random.Random(f"{self.config.seed}:faults")
        plan = rng.sample(FAULT_KINDS, len(FAULT_KINDS))  # every kind once, then at random
        while not self.stop_faults.wait(rng.uniform(*self.config.fault_gap)):
            kind = plan.pop(0) if plan else rng.choice(FAULT_KINDS)
            downtime = rng.uniform(0.1, 1.5)
            fault = Fault(at=self.elapsed(), kind=kind, target="")
            with self._lock:
                self.faults.append(fault)
            try:
                if kind == "erase":
                    self.erase(rng, fault)
                elif kind.removeprefix("kill_") in WORKERS:
                    self.kill_worker(kind.removeprefix("kill_"), downtime, fault)
                else:
                    self.kill_server(kind.removeprefix("kill_"), downtime, fault)
            except Exception as exc:  # recorded; the soak goes on
                fault.error = f"{type(exc).__name__}: {exc}"[:500]
            fault.recovered_at = self.elapsed()

    def kill_worker(self, name: str, downtime: float, fault: Fault) -> None:
        worker = self.workers[name]
        fault.target = f"{name} pid {worker.pid()}"
        worker.kill()
        time.sleep(downtime)
        worker.start()
        fault.detail = f"SIGKILL to its process group; restarted after {downtime:.2f}s"

    def server_pid(self, name: str) -> int | None:
        folder = {
            "redis": "redis",
            "postgres": "postgres",
            "broker": "kafka",
            "broker_storage": "objects",  # tansu's S3 storage (on the embedded PostgreSQL)
        }[name]
        path = self.folder / "servers" / folder / f"{folder}.pid"
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            return None

    def kill_server(self, name: str, downtime: float, fault: Fault) -> None:
        pid = self.server_pid(name)
        fault.target = f"{name} pid {pid}"
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        time.sleep(downtime)
        self.restart_server(name)
        fault.detail = f"SIGKILL to its process group; restarted after {downtime:.2f}s"
        if pid is None:
            fault.error = "no pid file: nothing was killed, the server was only restarted"
        if name.startswith("broker"):
            self.ensure_topics()

    def restart_server(self, name: str) -> None:
        restart = {
            "redis": self.servers.restart_redis,
            "postgres": self.servers.restart_postgres,
            "broker": self.servers.restart_kafka,
            "broker_storage": self.servers.start,  # starts whatever is not running
        }[name]
        restart()

    def erase(self, rng: random.Random, fault: Fault) -> None:
        draw, via = rng.random(), rng.choice(("api", "cli"))  # the same draws whatever happened
        candidates = [s for s in self.students if s not in self.erased]
        student = candidates[int(draw * len(candidates))]
        fault.target = f"student {student} via {via}"
        self.erase_pending.add(student)
        ok, detail = self.erase_once(student, via)
        fault.detail = detail
        if ok:
            self.erased[student] = self.elapsed()
            self.erase_pending.discard(student)

    def erase_once(self, student: str, via: str) -> tuple[bool, str]:
        if via == "api":
            try:
                answer = httpx.delete(
                    f"{self.api_url}/v1/students/{student}",
                    headers={"Authorization": f"Bearer {self.admin_token}"},
                    timeout=20,
                )
            except httpx.HTTPError as exc:
                return False, f"API: {type(exc).__name__}"
            return answer.status_code < 300, f"API answered {answer.status_code}"
        result = run_command(["erase", student, "--tenant", TENANT], self.env, timeout=60)
        detail = f"CLI exit {result.returncode}: {' '.join(tail_of(result.stderr, 2))}"
        return result.returncode == 0, detail[:300]

    def watchdog(self) -> None:
        """Records a worker that ended without being killed, and starts it again."""
        while not self.stop_faults.wait(0.5):
            for worker in self.workers.values():
                died = worker.restart_if_died()
                if died is not None:
                    self.unexpected_exits.append({"at": self.elapsed(), **died})

    # -- the run ---------------------------------------------------------------------------------

    def chaos(self) -> dict[str, Any]:
        threads = [
            threading.Thread(target=self.http_driver, name="http", daemon=True),
            threading.Thread(target=self.kafka_driver, name="kafka", daemon=True),
            threading.Thread(target=self.backfill_driver, name="backfill", daemon=True),
        ]
        injectors = [
            threading.Thread(target=self.fault_thread, name="faults", daemon=True),
            threading.Thread(target=self.watchdog, name="watchdog", daemon=True),
        ]
        self.started = time.monotonic()
        for thread in [*threads, *injectors]:
            thread.start()
        config = self.config
        while self.elapsed() < config.max_seconds:
            time.sleep(0.5)
            if (
                self.elapsed() >= config.duration
                and self.ledger.total_sent() >= config.min_events
                and len(self.faults) >= config.min_faults
            ):
                break
        chaos_seconds = self.elapsed()
        self.stop_faults.set()
        for thread in injectors:
            thread.join(180)
        self.stop_drivers.set()
        for thread in threads:
            thread.join(COMMAND_TIMEOUT + 60)
        return {
            "chaos_seconds": chaos_seconds,
            "targets_met": self.ledger.total_sent() >= config.min_events
            and len(self.faults) >= config.min_faults,
            "threads_still_running": [t.name for t in [*threads, *injectors] if t.is_alive()],
        }

    def recover(self) -> dict[str, Any]:
        """Restart everything, retry erasures, run every backfill file again, drain."""
        steps: dict[str, Any] = {}
        self.servers.start()  # whatever is down comes back
        self.ensure_topics()
        for worker in self.workers.values():
            worker.kill()
            worker.start()
        steps["api_up"] = self.wait_for_api(60)
        retried = {}
        for student in sorted(self.erase_pending):
            ok, detail = self.erase_once(student, "cli")
            retried[student] = detail
            if ok:
                self.erased[student] = self.elapsed()
        self.erase_pending -= set(self.erased)
        steps["erasures_retried"] = retried
        if self.backfill_files:
            merged = self.folder / "backfill-all.jsonl"
            merged.write_bytes(b"".join(p.read_bytes() for p in self.backfill_files))
            result = run_command(["backfill", str(merged), "--workers", "1"], self.env, 600)
            steps["backfill_rerun"] = {
                "exit": result.returncode,
                "output": tail_of(result.stdout, 8) + tail_of(result.stderr, 4),
            }
        drain_began = time.monotonic()
        steps["drain"] = self.drain()
        steps["drain"]["seconds"] = round(time.monotonic() - drain_began, 1)
        return steps

    def drain(self) -> dict[str, Any]:
        """Wait until every confirmed event is stored and every position is at the head; or,
        when that does not come (lost events, a stuck worker), until the consumer group has
        committed the whole requests topic and the store and the projector have stood still
        for ``stall_seconds``; at most ``drain_seconds``."""
        began = time.monotonic()
        deadline = began + self.config.drain_seconds
        last: tuple[int, ...] | None = None
        stable_since = time.monotonic()
        state: dict[str, Any] = {}
        samples: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            if state and (not samples or time.monotonic() - began - samples[-1]["t"] >= 4):
                samples.append({"t": round(time.monotonic() - began, 1), **state})
            try:
                state = dict(self.positions())
                state["kafka_lag"] = self.kafka_lag()
            except Exception as exc:  # a server still coming back
                state = {"error": f"{type(exc).__name__}: {exc}"}
                time.sleep(1)
                continue
            stored = self.stored_ids()
            state["missing"] = len(self.expected_ids() - stored)
            snapshot = (len(stored), state["head"], state["projector"])
            at_head = state["head"] == state["projector"]
            if state["missing"] == 0 and at_head and state["publisher"] == state["head"]:
                state["drained"] = True
                return {**state, "samples": samples}
            if snapshot != last:
                last, stable_since = snapshot, time.monotonic()
            settled = time.monotonic() - stable_since > self.config.stall_seconds
            if settled and at_head and state["kafka_lag"] == 0:
                state["drained"] = False
                state["settled_for_seconds"] = self.config.stall_seconds
                return {**state, "samples": samples}
            time.sleep(1)
        state["drained"] = False
        state["deadline_passed"] = True
        return {**state, "samples": samples}

    def kafka_lag(self) -> int | None:
        """Messages of the requests topic beyond the ingest group's committed offsets (None
        when the broker does not answer). tansu may understate a partition's end by its last
        batch, hence the settling time in :meth:`drain` as well."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": "mastery-ingest",
                "enable.auto.commit": False,
                "log_level": 0,
            }
        )
        try:
            metadata = consumer.list_topics(REQUESTS_TOPIC, timeout=5)
            partitions = [
                TopicPartition(REQUESTS_TOPIC, p)
                for p in metadata.topics[REQUESTS_TOPIC].partitions
            ]
            lag = 0
            for committed in consumer.committed(partitions, timeout=5):
                _low, high = consumer.get_watermark_offsets(committed, timeout=5)
                lag += max(0, high - max(committed.offset, 0))
            return lag
        except KafkaException:
            return None
        finally:
            consumer.close()

    # -- reading the outcome ---------------------------------------------------------------------

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, connect_timeout=5) as conn:
            return list(conn.execute(sql, params).fetchall())

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url, socket_timeout=10, decode_responses=True)

    def positions(self) -> dict[str, int]:
        head = self.query("SELECT coalesce(max(notification_id), 0) FROM mastery_events")[0][0]
        published = self.query(
            "SELECT notification_id FROM mastery_tracking WHERE application_name = %s",
            "mastery.results",
        )
        projected = self.tracked(LIVE_PREFIX)
        return {
            "head": int(head),
            "publisher": int(published[0][0]) if published else 0,
            "projector": int(projected) if projected else 0,
        }

    def tracked(self, prefix: str) -> str | None:
        client = self.redis()
        try:
            position = client.get(f"{prefix}projection:{{mastery}}:position")
            return None if position is None else str(position)
        finally:
            client.close()

    def stored_ids(self) -> set[str]:
        rows = self.query("SELECT event_id FROM mastery_event_ids WHERE tenant_id = %s", TENANT)
        return {row[0] for row in rows}

    def expected_ids(self) -> set[str]:
        erased = set(self.erased) | self.erase_pending
        return {
            event_id
            for event_id in self.ledger.confirmed
            if self.ledger.student_of.get(event_id) not in erased
        }

    def checks(self) -> list[Check]:
        checks = []
        named: tuple[tuple[str, Callable[[], Check]], ...] = (
            ("store_check", self.check_store),
            ("confirmed_stored_http", lambda: self.check_confirmed_stored("http")),
            ("confirmed_stored_kafka", lambda: self.check_confirmed_stored("kafka")),
            ("confirmed_stored_backfill", lambda: self.check_confirmed_stored("backfill")),
            ("no_phantoms", self.check_no_phantoms),
            ("batches_answered_per_event", self.check_batches),
            ("read_models_rebuild", self.check_read_models),
            ("erased_unreadable", self.check_erased),
            ("results_caught_up", self.check_caught_up),
            ("workers_survive", self.check_workers),
            ("ready", self.check_ready),
        )
        for name, check in named:
            began = time.monotonic()
            try:
                outcome = check()
            except Exception as exc:
                outcome = Check(name, False, f"the check itself failed: {exc!r}"[:500])
            outcome.seconds = round(time.monotonic() - began, 1)
            checks.append(outcome)
        return checks

    def check_store(self) -> Check:
        result = run_command(["store", "check", "--json"], self.env, 300)
        evidence: dict[str, Any] = {"exit": result.returncode}
        try:
            evidence["report"] = json.loads(result.stdout)
        except ValueError:
            evidence["stdout"] = tail_of(result.stdout)
        evidence["stderr"] = tail_of(result.stderr, 5)
        passed = result.returncode == 0
        return Check(
            "store_check", passed, f"mastery store check exit {result.returncode}", evidence
        )

    def check_confirmed_stored(self, source: str) -> Check:
        """Every event of ``source`` that the product confirmed (and whose student was not
        erased) is in mastery_event_ids; store_check makes that "exactly once"."""
        stored = self.stored_ids()
        expected = {e for e in self.expected_ids() if self.ledger.confirmed[e].startswith(source)}
        missing = sorted(expected - stored)
        broker_kills = [f.at for f in self.faults if f.kind.startswith("kill_broker")]
        last_kill = self.started + max(broker_kills) if broker_kills else None
        before_last_broker_kill = sum(
            1 for e in missing if last_kill is not None and self.ledger.confirmed_at[e] < last_kill
        )
        sample = [
            {
                "event_id": e,
                "student": self.ledger.student_of.get(e),
                "confirmed_as": self.ledger.confirmed[e],
                "confirmed_at": round(self.ledger.confirmed_at[e] - self.started, 3),
            }
            for e in missing[:SAMPLE]
        ]
        return Check(
            f"confirmed_stored_{source}",
            not missing,
            f"{len(missing)} of {len(expected)} confirmed {source} events missing from "
            "mastery_event_ids",
            {
                "missing_by_confirmation": dict(Counter(self.ledger.confirmed[e] for e in missing)),
                "missing_confirmed_before_the_last_broker_kill": before_last_broker_kill,
                "missing_confirmed_after_it_sample": [
                    {"event_id": e, "at": round(self.ledger.confirmed_at[e] - self.started, 3)}
                    for e in missing
                    if last_kill is not None and self.ledger.confirmed_at[e] >= last_kill
                ][:SAMPLE],
                "broker_kills_at": broker_kills,
                "missing_sample": sample,
            },
        )

    def check_batches(self) -> Check:
        """SPEC §3: a batch is never refused as a whole because of one of its events. A 5xx
        while a dependency is down is reported, not failed; a 4xx for a whole batch fails."""
        refused = [b for b in self.refused_batches if 400 <= b["status"] < 500]
        unavailable = [b for b in self.refused_batches if b["status"] >= 500]
        return Check(
            "batches_answered_per_event",
            not refused,
            f"{len(refused)} HTTP batches refused as a whole with a 4xx, "
            f"{len(unavailable)} answered 5xx (during faults)",
            {
                "refused": refused[:SAMPLE],
                "unavailable": dict(Counter(b["status"] for b in unavailable)),
                "unavailable_sample": unavailable[:3],
            },
        )

    def check_no_phantoms(self) -> Check:
        phantoms = sorted(self.stored_ids() - self.ledger.valid_sent)
        return Check(
            "no_phantoms",
            not phantoms,
            f"{len(phantoms)} stored event ids that no driver sent as a valid event",
            {"sample": phantoms[:SAMPLE]},
        )

    def check_read_models(self) -> Check:
        env = {**self.env, "MASTERY_REDIS_PREFIX": REBUILD_PREFIX}
        before = self.positions()
        result = run_command(["projections", "rebuild"], env, 600)
        after = self.positions()
        if result.returncode != 0:
            return Check(
                "read_models_rebuild",
                False,
                f"mastery projections rebuild exit {result.returncode}",
                {"stderr": tail_of(result.stderr)},
            )
        live, rebuilt = self.read_models(LIVE_PREFIX), self.read_models(REBUILD_PREFIX)
        only_live = sorted(set(live) - set(rebuilt))
        only_rebuilt = sorted(set(rebuilt) - set(live))
        differ = sorted(k for k in set(live) & set(rebuilt) if live[k] != rebuilt[k])
        documents = [k for k in differ if k.endswith(":profile:current_mastery")]
        samples = [
            {"key": k, "fields": field_differences(live[k], rebuilt[k])}
            for k in [*documents[:4], *[k for k in differ if k not in documents][:2]]
        ]
        passed = not (only_live or only_rebuilt or differ)
        return Check(
            "read_models_rebuild",
            passed,
            f"{len(live)} live keys: {len(only_live)} only live, {len(only_rebuilt)} only in "
            f"the rebuild, {len(differ)} differ ({len(documents)} current documents)",
            {
                "positions_before_rebuild": before,
                "positions_after_rebuild": after,
                "rebuild_tracking": self.tracked(REBUILD_PREFIX),
                "only_live": only_live[:SAMPLE],
                "only_rebuild": only_rebuilt[:SAMPLE],
                "differ": samples,
            },
        )

    def read_models(self, prefix: str) -> dict[str, Any]:
        """Every read-model key under ``prefix`` (tracking positions left out), without the
        prefix, with its value: parsed JSON for a document, member -> score for a roster."""
        client = self.redis()
        models: dict[str, Any] = {}
        try:
            for key in client.scan_iter(match=f"{prefix}*", count=1000):
                name = key.removeprefix(prefix)
                if not name.startswith(READ_MODEL_FAMILIES):
                    continue  # tracking positions, erasure markers: not read models
                kind = client.type(key)
                if kind == "string":
                    raw = client.get(key)
                    models[name] = json.loads(raw) if raw else raw
                elif kind == "zset":
                    models[name] = dict(client.zscan_iter(key))
                elif kind == "hash":
                    models[name] = client.hgetall(key)
                else:
                    models[name] = f"<{kind!s}>"
        finally:
            client.close()
        return models

    def check_erased(self) -> Check:
        erased = sorted(set(self.erased) | self.erase_pending)
        client = self.redis()
        leaks: list[dict[str, Any]] = []
        try:
            rosters = [
                k
                for pattern in ("*class:*", "*tenant:*")
                for k in client.scan_iter(match=pattern, count=1000)
                if client.type(k) == "zset"
            ]
            for student in erased:
                keys = list(client.scan_iter(match=f"*student:{{{TENANT}/{student}}}*", count=1000))
                on = [r for r in rosters if client.zscore(r, student) is not None]
                if keys or on:
                    leaks.append({"student": student, "keys": keys[:5], "rosters": on[:5]})
        finally:
            client.close()
        answers: dict[str, int | str] = {}
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        for student in erased:
            try:
                answer = httpx.get(
                    f"{self.api_url}/v1/students/{student}/mastery", headers=headers, timeout=15
                )
                answers[student] = answer.status_code
            except httpx.HTTPError as exc:
                answers[student] = type(exc).__name__
            teacher = self.token("teacher", "chaos-teacher", classes=[class_of(student)])
            try:
                answer = httpx.get(
                    f"{self.api_url}/v1/students/{student}/topics",
                    headers={"Authorization": f"Bearer {teacher}"},
                    timeout=15,
                )
                answers[f"{student} (teacher, topics)"] = answer.status_code
            except httpx.HTTPError as exc:
                answers[f"{student} (teacher, topics)"] = type(exc).__name__
        readable = {
            s: a
            for s, a in answers.items()
            if a not in ((403, 404, 410) if "(teacher" in s else (404, 410))
        }
        on_api_rosters = self.erased_on_api_rosters(set(erased), headers)
        return Check(
            "erased_unreadable",
            not leaks and not readable and not on_api_rosters and not self.erase_pending,
            f"{len(erased)} erased students: {len(leaks)} with Redis keys or roster entries, "
            f"{len(readable)} reads not refused by the API (404/410; 403 for a teacher), "
            f"{len(on_api_rosters)} on a class roster of the API, "
            f"{len(self.erase_pending)} erasures never answered",
            {
                "leaks": leaks[:SAMPLE],
                "api_not_404_410": dict(list(readable.items())[:SAMPLE]),
                "api_rosters": on_api_rosters[:SAMPLE],
                "pending": sorted(self.erase_pending),
            },
        )

    def erased_on_api_rosters(self, erased: set[str], headers: dict[str, str]) -> list[str]:
        found = []
        for class_id in sorted({class_of(s) for s in self.students}):
            try:
                answer = httpx.get(
                    f"{self.api_url}/v1/classes/{class_id}/mastery", headers=headers, timeout=30
                )
            except httpx.HTTPError as exc:
                found.append(f"{class_id}: {type(exc).__name__}")
                continue
            if answer.status_code != 200:
                found.append(f"{class_id}: answered {answer.status_code}")
                continue
            listed = {entry["student_id"] for entry in answer.json()["students"]}
            found.extend(f"{class_id}: {s}" for s in sorted(listed & erased))
        return found

    def check_caught_up(self) -> Check:
        positions = self.positions()
        status = run_command(["projections", "status", "--json"], self.env, 60)
        evidence: dict[str, Any] = {
            "positions": positions,
            "status_exit": status.returncode,
            "publisher_errors": self.workers["publisher"].errors(),
            "projector_errors": self.workers["projector"].errors(),
        }
        with contextlib.suppress(ValueError):
            evidence["projections_status"] = json.loads(status.stdout)
        head = positions["head"]
        passed = positions["publisher"] == head and positions["projector"] == head
        return Check(
            "results_caught_up",
            passed,
            f"store head {head}, results publisher {positions['publisher']}, "
            f"projector {positions['projector']}",
            evidence,
        )

    def check_workers(self) -> Check:
        exits = Counter(e["worker"] for e in self.unexpected_exits)
        return Check(
            "workers_survive",
            not self.unexpected_exits,
            f"{len(self.unexpected_exits)} unexpected worker exits {dict(exits)}",
            {"exits": self.unexpected_exits[:SAMPLE]},
        )

    def check_ready(self) -> Check:
        try:
            answer = httpx.get(f"{self.api_url}/readyz", timeout=15)
        except httpx.HTTPError as exc:
            return Check("ready", False, f"/readyz: {type(exc).__name__}")
        return Check(
            "ready",
            answer.status_code == 200,
            f"/readyz answered {answer.status_code}",
            {"body": answer.text[:500]},
        )

    # -- teardown --------------------------------------------------------------------------------

    def close(self) -> None:
        self.stop_faults.set()
        self.stop_drivers.set()
        for worker in self.workers.values():
            with contextlib.suppress(Exception):
                worker.stop()
        self.servers.stop()

    def log_tails(self) -> dict[str, list[str]]:
        return {name: worker.tail(8) for name, worker in self.workers.items()}

    def worker_errors(self) -> dict[str, dict[str, dict[str, Any]]]:
        return {name: worker.errors() for name, worker in self.workers.items()}


def run_soak(config: SoakConfig, folder: Path | None = None) -> dict[str, Any]:
    """Run the soak and return its report; each check says passed or not, with evidence."""
    with contextlib.ExitStack() as stack:
        if folder is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mastery-chaos-")))
        soak = Soak(config, folder)
        stack.callback(soak.close)
        atexit.register(soak.close)  # also when the interpreter ends in the middle
        stack.callback(atexit.unregister, soak.close)
        began = time.monotonic()
        phases: dict[str, float] = {}

        def phase(name: str, since: float) -> float:
            now = time.monotonic()
            phases[name] = round(now - since, 1)
            return now

        mark = began
        soak.start_servers()
        mark = phase("setup", mark)
        run = soak.chaos()
        mark = phase("chaos", mark)
        recovery = soak.recover()
        mark = phase("recovery", mark)
        checks = soak.checks()
        phase("checks", mark)
        faults = Counter(f.kind for f in soak.faults)
        stored = soak.stored_ids()
        report: dict[str, Any] = {
            "benchmark": "chaos",
            "seed": config.seed,
            "config": asdict(config),
            "machine": machine(),
            "seconds": round(time.monotonic() - began, 1),
            "phase_seconds": phases,
            "run": run,
            "size": {
                "messages_sent": soak.ledger.total_sent(),
                "sent_by_kind": dict(soak.ledger.sent),
                "valid_events_sent": len(soak.ledger.valid_sent),
                "confirmed_events": len(soak.ledger.confirmed),
                "stored_events": len(stored),
                "outcomes": dict(soak.ledger.outcomes),
                "backfill_files": len(soak.backfill_files),
                "backfill_runs": dict(soak.backfill_runs),
                "backfill_log": soak.backfill_log,
                "driver_errors": dict(soak.driver_errors),
            },
            "fault_count": len(soak.faults),
            "faults_by_kind": dict(faults),
            "fault_errors": sum(1 for f in soak.faults if f.error),
            "faults": [asdict(f) for f in soak.faults],
            "erased_students": sorted(soak.erased),
            "recovery": recovery,
            "checks": {c.name: asdict(c) for c in checks},
            "passed": all(c.passed for c in checks),
            "worker_errors": soak.worker_errors(),
            "log_tails": soak.log_tails(),
        }
        return report


def summary_lines(report: dict[str, Any]) -> list[str]:
    size = report["size"]
    lines = [
        f"seed {report['seed']}: {size['messages_sent']} messages sent "
        f"({size['valid_events_sent']} valid events, {size['confirmed_events']} confirmed, "
        f"{size['stored_events']} stored), {report['fault_count']} faults "
        f"{report['faults_by_kind']}, {report['seconds']} s",
    ]
    for check in report["checks"].values():
        lines.append(
            f"  {'PASS' if check['passed'] else 'FAIL'} {check['name']}: {check['summary']}"
        )
    return lines


LONG = SoakConfig(
    seed=7,
    duration=180.0,
    min_events=100_000,
    min_faults=50,
    max_seconds=600.0,
    students=300,
    http_batch=250,
    kafka_batch=200,
    kafka_rate=300.0,
    backfill_lines=2000,
    fault_gap=(1.0, 3.0),
    drain_seconds=300.0,
    stall_seconds=30.0,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=LONG.seed)
    parser.add_argument("--duration", type=float, default=LONG.duration)
    parser.add_argument("--events", type=int, default=LONG.min_events)
    parser.add_argument("--faults", type=int, default=LONG.min_faults)
    parser.add_argument("--max-seconds", type=float, default=LONG.max_seconds)
    parser.add_argument("--students", type=int, default=LONG.students)
    parser.add_argument(
        "--folder", type=Path, help="Run in this (new or empty) folder and keep it: logs, data."
    )
    args = parser.parse_args()
    config = replace(
        LONG,
        seed=args.seed,
        duration=args.duration,
        min_events=args.events,
        min_faults=args.faults,
        max_seconds=args.max_seconds,
        students=args.students,
    )
    if args.folder is not None:
        args.folder.mkdir(parents=True, exist_ok=True)
    report = run_soak(config, args.folder)
    path = write_result("chaos", report)
    print("\n".join(summary_lines(report)))
    print(f"wrote {path}")
    sys.exit(0 if report["passed"] else 1)


if __name__ == "__main__":
    main()
