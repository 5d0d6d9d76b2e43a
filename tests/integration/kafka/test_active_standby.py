"""Active-standby workers (SPEC §12, issue 15): two projectors and two publishers run as real
processes while events are ingested; the leader of each role is killed with SIGKILL again and
again (and restarted, so two always run). At the end the read models equal a clean rebuild,
``mastery.results`` holds every level change and an update for every student, and no two
leadership terms of a role overlapped: no term confirmed a write after the next one began.

The terms come from the workers' own JSON logs: ``leadership_gained`` when a term starts and
``leader_writing`` each time a leader confirms its lock right before a write batch.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest

from infrastructure.bootstrap import build
from infrastructure.kafka.publisher import TRACKING_NAME, ResultsPublisher
from infrastructure.runtime.heartbeat import read_beats
from infrastructure.settings import Settings
from infrastructure.synthetic import CohortShape, cohort_events
from tests.integration.kafka.conftest import kafka_settings
from tests.integration.kafka.support import read_topic, wait_for
from tests.integration.kafka.test_publisher import _by_student, _expected_level_changes
from tests.integration.test_projector_crash import everything

ROOT = Path(__file__).resolve().parents[3]
TENANT = "astb"
ROLES = {"projector": "project", "publisher": "publish"}  # heartbeat name -> command
STILL_SECONDS = 120.0


@dataclass
class Worker:
    """One ``mastery project`` / ``mastery publish`` process, as in a container of its own:
    its heartbeat folder is its own, its log a file per start."""

    role: str
    folder: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    def start(self) -> Worker:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = self.folder / f"{self.role}-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "api.cli.main", ROLES[self.role], "--log-level", "DEBUG"],
                cwd=ROOT,
                env={**self.env, "MASTERY_HEALTH_DIR": str(self.folder / "health")},
                stdout=out,
                stderr=out,
            )
        return self

    def beat(self) -> dict[str, Any] | None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"{self.role} exited:\n{self.tail()}")
        beats = read_beats(self.folder / "health", self.role)
        mine = [b for b in beats if b.get("pid") == self.process.pid]
        return mine[0] if mine else None

    def leads(self) -> bool:
        beat = self.beat()
        return beat is not None and beat["leadership"] == "leader" and beat["state"] == "running"

    def stands_by(self) -> bool:
        beat = self.beat()
        return beat is not None and beat["state"] == "standby"

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)

    def ready(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "api.cli.main", "ready", self.role],
            cwd=ROOT,
            env={**self.env, "MASTERY_HEALTH_DIR": str(self.folder / "health")},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def tail(self) -> str:
        return self.logs[-1].read_text(errors="replace")[-3000:]

    def records(self) -> list[dict[str, Any]]:
        out = []
        for log in self.logs:
            for line in log.read_bytes().splitlines():
                if line.startswith(b"{"):
                    try:
                        out.append(orjson.loads(line))
                    except orjson.JSONDecodeError:
                        continue  # the line a SIGKILL cut short
        return out


def _environment(settings: Settings, data: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MASTERY_DATABASE_URL": settings.require_database_url(),
        "MASTERY_REDIS_URL": str(settings.redis_url),
        "MASTERY_REDIS_PREFIX": settings.redis_prefix,
        "MASTERY_SNAPSHOT_TTL_DAYS": "0",
        "MASTERY_PROJECTION_BATCH_SIZE": "300",
        "MASTERY_PUBLISH_BATCH_SIZE": "300",
        "MASTERY_KAFKA_BOOTSTRAP_SERVERS": str(settings.kafka_bootstrap_servers),
        "MASTERY_KAFKA_RESULTS_TOPIC": settings.kafka_results_topic,
        "MASTERY_KAFKA_REQUESTS_TOPIC": settings.kafka_requests_topic,
        "MASTERY_KAFKA_DLQ_TOPIC": settings.kafka_dlq_topic,
        "MASTERY_KAFKA_PARTITIONS": str(settings.kafka_partitions),
        "MASTERY_DATA_DIR": str(data),
    }


def _leader(workers: list[Worker], timeout: float = 60.0) -> Worker:
    found: list[Worker] = []

    def one_leads() -> bool:
        found[:] = [w for w in workers if w.leads()]
        return len(found) == 1

    wait_for(one_leads, timeout, f"one {workers[0].role} to lead")
    return found[0]


def _one_stands_by(workers: list[Worker]) -> bool:
    return sum(w.stands_by() for w in workers) == 1


def _terms(workers: list[Worker], role: str) -> dict[int, dict[str, Any]]:
    """Each term of ``role``: when it was gained and when each of its writes was confirmed."""
    terms: dict[int, dict[str, Any]] = defaultdict(lambda: {"gained": None, "writes": []})
    for worker in workers:
        for record in worker.records():
            if record.get("role") != role or "term" not in record:
                continue
            at = datetime.fromisoformat(record["timestamp"])
            if record["event"] == "leadership_gained":
                terms[record["term"]]["gained"] = at
            elif record["event"] == "leader_writing":
                terms[record["term"]]["writes"].append(at)
    return dict(terms)


def _assert_terms_never_overlap(workers: list[Worker], role: str, kills: int) -> None:
    terms = _terms(workers, role)
    ordered = sorted(terms.items())
    assert len(ordered) >= kills + 1, f"{role}: {len(ordered)} terms for {kills} kills"
    assert all(t["gained"] is not None for _, t in ordered), f"{role}: a term without a start"
    assert sum(bool(t["writes"]) for _, t in ordered) >= 2, f"{role}: too few terms wrote"
    for (number, term), (later, successor) in itertools.pairwise(ordered):
        assert term["gained"] < successor["gained"], f"{role}: terms {number}, {later} out of order"
        if term["writes"]:
            assert max(term["writes"]) < successor["gained"], (
                f"{role}: term {number} wrote after term {later} began"
            )


class Feeder(threading.Thread):
    """Ingests the cohort in batches of 100, no further than ``allow``ed so far: the stream is
    paced by the kills, so that each kill falls during the ingest."""

    def __init__(self, settings: Settings, events: list[dict[str, Any]]) -> None:
        super().__init__(daemon=True)
        self.settings = settings
        self.events = events
        self.fed = 0
        self._allowed = 0
        self._more = threading.Event()

    def allow(self, share: float) -> None:
        self._allowed = max(self._allowed, int(len(self.events) * share))
        self._more.set()

    def run(self) -> None:
        with build(self.settings) as writer:
            while self.fed < len(self.events):
                if self.fed >= self._allowed:
                    self._more.wait(600)
                    self._more.clear()
                    continue
                end = min(self.fed + 100, self._allowed)
                writer.ingest.ingest(self.events[self.fed : end])
                self.fed = end


def _until_behind(position: Callable[[], int], head: Callable[[], int], after: float) -> None:
    """Return once ``after`` seconds have passed and the leader's position is behind the head,
    polled every few milliseconds (up to 30 s: past that the kill proceeds anyway, and the
    test's count of kills with work in hand says so)."""
    started = time.monotonic()
    while time.monotonic() - started < 30.0:
        if time.monotonic() - started >= after and position() < head():
            return
        time.sleep(0.003)


def _run(settings: Settings, tmp_path: Path, *, kills: int, events: int) -> None:
    cohort = list(
        cohort_events(CohortShape(students=60, events=events, days=20, tenant_id=TENANT, seed=7))
    )
    random.Random(3).shuffle(cohort)
    rng = random.Random(11)
    env = _environment(settings, tmp_path / "data")
    pools = {
        role: [Worker(role, tmp_path / f"{role}-{i}", env).start() for i in range(2)]
        for role in ROLES
    }
    feeder = Feeder(settings, cohort)
    takeovers: list[float] = []
    behind = 0  # kills of a leader that had work in hand
    observer = build(settings)
    watching = observer.__enter__()
    publisher = ResultsPublisher(watching.application, settings)
    positions: dict[str, Callable[[], int]] = {
        "projector": lambda: watching.view.max_tracking_id("mastery") or 0,
        "publisher": lambda: publisher.tracking.max_tracking_id(TRACKING_NAME) or 0,
    }
    try:
        feeder.start()
        for workers in pools.values():
            _leader(workers, 120)
            wait_for(partial(_one_stands_by, workers), 120, "a standby")
        rounds = 2 * kills
        for done in range(rounds):
            role = list(ROLES)[done % 2]
            workers = pools[role]
            feeder.allow((done + 1) / (rounds + 1))
            leader = _leader(workers)
            # Kill it mid-stream: as soon as it is seen behind the store's head while the feeder
            # writes (a fixed pause let a fast leader catch up first, and then no kill found
            # work in hand).
            _until_behind(positions[role], watching.application.head, rng.uniform(0.0, 0.3))
            leader.kill()
            behind += positions[role]() < watching.application.head()
            killed_at = time.monotonic()
            others = [w for w in workers if w is not leader]
            _leader(others, 30)
            takeovers.append(time.monotonic() - killed_at)
            restarted = Worker(role, leader.folder, env, logs=leader.logs).start()
            workers[workers.index(leader)] = restarted
            wait_for(restarted.stands_by, 120, f"the restarted {role} standing by")
        feeder.allow(1.0)
        feeder.join(600)
        _until_everything_is_done(settings, len(cohort), pools)
        for workers in pools.values():
            answers = sorted((w.ready() for w in workers), key=lambda a: a.stdout)
            assert [a.returncode for a in answers] == [0, 0], [a.stdout for a in answers]
            assert "leader (term" in answers[0].stdout, answers[0].stdout
            assert "standby, waiting for leadership since" in answers[1].stdout
    finally:
        for workers in pools.values():
            for worker in workers:
                if worker.process is not None and worker.process.poll() is None:
                    assert worker.stop() == 0, worker.tail()
        feeder.allow(1.0)
        feeder.join(600)
        observer.__exit__(None, None, None)
    assert behind >= kills, f"only {behind} of {2 * kills} kills hit a leader with work in hand"
    assert max(takeovers) < 30
    for role, workers in pools.items():
        _assert_terms_never_overlap(workers, role, kills)
    _assert_read_models_equal_a_clean_rebuild(settings, cohort)
    _assert_every_result_published(settings, cohort)


def _until_everything_is_done(
    settings: Settings, count: int, pools: dict[str, list[Worker]]
) -> None:
    """Until the projector and the publisher reach the head; fails if neither moves for
    ``STILL_SECONDS`` (a busy machine may be slow, a stuck worker stands still)."""
    with build(settings) as observer:
        publisher = ResultsPublisher(observer.application, settings)
        seen: list[tuple[int, int, int]] = []
        moved = [time.monotonic()]

        def state() -> tuple[int, int, int]:
            return (
                observer.application.head(),
                observer.view.max_tracking_id("mastery") or 0,
                publisher.tracking.max_tracking_id(TRACKING_NAME) or 0,
            )

        def caught_up_or_still() -> bool:
            now = state()
            if not seen or now != seen[-1]:
                moved[0] = time.monotonic()
            seen.append(now)
            head, projected, published = now
            done = head >= count and projected == head and published == head
            return done or time.monotonic() - moved[0] > STILL_SECONDS

        wait_for(caught_up_or_still, 1800, "the projector and the publisher to reach the head")
        head, projected, published = seen[-1]
        beats = {
            role: [(w.process.pid if w.process else None, w.beat()) for w in workers]
            for role, workers in pools.items()
        }
        assert projected == head == published and head >= count, (
            f"stuck: head {head}, projected {projected}, published {published}; {beats}\n"
            + "\n".join(w.tail() for workers in pools.values() for w in workers)
        )


def _assert_read_models_equal_a_clean_rebuild(
    settings: Settings, cohort: list[dict[str, Any]]
) -> None:
    students = sorted({str(e["student_id"]) for e in cohort})
    with build(settings) as survived:
        after_kills = everything(survived, TENANT, students)
    with build(replace(settings, redis_prefix=settings.redis_prefix + "clean:")) as clean:
        clean.projector.rebuild()
        assert everything(clean, TENANT, students) == after_kills


def _assert_every_result_published(settings: Settings, cohort: list[dict[str, Any]]) -> None:
    students = {(e["tenant_id"], e["student_id"]) for e in cohort}
    results = {m["event_id"]: m for m in read_topic(settings, settings.kafka_results_topic)}
    unique = list(results.values())  # a round re-published after a kill repeats its ids
    updated = _by_student(unique, "mastery.updated")
    assert set(updated) == students
    with build(settings) as built:
        for (tenant, student_id), messages in updated.items():
            final = built.application.student(tenant, student_id).mastery()
            assert messages[-1]["level"] == final.level
            assert messages[-1]["mastery_score"] == final.to_document()["mastery_score"]
    thresholds = _by_student(unique, "mastery.threshold.reached")
    expected = _expected_level_changes(settings, students)
    for student, changes in expected.items():
        got = [
            (m["from_level"], m["to_level"], m["learning_event_id"]) for m in thresholds[student]
        ]
        assert got == changes, student


@pytest.fixture
def standby_settings(full_settings: Settings, kafka_bootstrap: str) -> Settings:
    return kafka_settings(full_settings, kafka_bootstrap)


def test_leaders_killed_during_ingest_are_replaced_and_nothing_is_lost_or_doubled(
    standby_settings: Settings, tmp_path: Path
) -> None:
    _run(standby_settings, tmp_path, kills=2, events=4_000)


@pytest.mark.slow
def test_leaders_killed_ten_times_each_during_ingest(
    standby_settings: Settings, tmp_path: Path
) -> None:
    _run(standby_settings, tmp_path, kills=10, events=20_000)
