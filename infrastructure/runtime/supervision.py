"""Supervised workers (SPEC §10, "workers keep working").

A long-running worker (projector, results publisher, Kafka consumer, access-log writer) hands
its loop to a ``Supervisor``: any exception out of the loop is logged, the worker's ``recover``
hook runs (guarded: it must not be able to kill the worker either), the supervisor waits a
capped, jittered exponential backoff and runs the loop again. Only ``stop`` ends it.

Each worker keeps a ``WorkerHealth``: its state (running, backing off with the last error,
stopped), when it last made progress (finished a batch, or looked and found nothing to do),
when it last finished a batch, and its position and lag where it has them. Workers running in
a process are listed in that process's ``Workers`` registry, which readiness reads. A worker that
runs only while it leads (``infrastructure.runtime.leadership``) is ``standby`` meanwhile: alive
and ready. Where the process's entry point enabled them, every report is also written to the
worker's heartbeat file (``infrastructure.runtime.heartbeat``), which ``mastery ready`` reads.
"""

from __future__ import annotations

import enum
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
import psycopg_pool
import redis
from eventsourcing.persistence import InterfaceError, OperationalError

from infrastructure.runtime import heartbeat

log = logging.getLogger(__name__)

TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg_pool.PoolTimeout,
    redis.ConnectionError,
    redis.TimeoutError,
    # A Redis Cluster electing a master, moving slots, or with a slot uncovered:
    redis.exceptions.ClusterError,
    redis.exceptions.TryAgainError,
    redis.exceptions.AskError,
    redis.exceptions.SlotNotCoveredError,
    ConnectionError,
    TimeoutError,
)


class TransientError(RuntimeError):
    """A dependency did not answer in time; nothing is wrong with the work itself."""


def is_transient(error: BaseException) -> bool:
    """True if ``error`` or anything in its cause/context chain is a connectivity failure."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, (*TRANSIENT_TYPES, TransientError)):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


@dataclass
class Backoff:
    """Exponential backoff with jitter, capped; ``wait`` returns False if stopped meanwhile."""

    initial: float = 0.2
    cap: float = 5.0
    _next: float = 0.0

    def reset(self) -> None:
        self._next = 0.0

    def wait(self, stop: threading.Event) -> bool:
        self._next = min(self.cap, self._next * 2 if self._next else self.initial)
        return not stop.wait(self._next * random.uniform(0.8, 1.0))


class WorkerState(enum.StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    BACKING_OFF = "backing off"
    STANDBY = "standby"  # alive, waiting to lead
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    name: str
    state: WorkerState
    last_error: str | None
    failures: int
    last_progress_age: float | None  # seconds since the worker last progressed
    last_batch_age: float | None  # seconds since it last finished a batch of work
    position: int | None
    lag: int | None
    leadership: str | None = None  # "leader" or "standby" for a worker that must run once
    term: int | None = None


class WorkerHealth:
    """What a worker reports about itself; safe to read from any thread."""

    def __init__(self, name: str, *, lag_probe: Callable[[], int] | None = None) -> None:
        self.name = name
        self.lag_probe = lag_probe  # the work waiting now, asked of the source (readiness)
        self._lock = threading.Lock()
        self._state = WorkerState.STARTING
        self._last_error: str | None = None
        self._failures = 0
        self._progresses = 0
        self._last_progress: float | None = None
        self._last_batch: float | None = None
        self._position: int | None = None
        self._lag: int | None = None
        self._leadership: str | None = None
        self._term: int | None = None
        self._since = time.time()  # wall clock: when the state or the leadership last changed
        self._progress_at: float | None = None  # wall clock of the last progress
        self._heartbeat = heartbeat.for_worker(name)

    def progressed(
        self, *, batch: bool = False, position: int | None = None, lag: int | None = None
    ) -> None:
        """The worker did its job: finished a batch (``batch``), or found nothing to do."""
        now = time.monotonic()
        with self._lock:
            changed = self._enter(WorkerState.RUNNING)
            self._progresses += 1
            self._progress_at = time.time()
            self._last_progress = now
            if batch:
                self._last_batch = now
            if position is not None:
                self._position = position
            if lag is not None:
                self._lag = lag
        self._beat(changed)

    def set_lag(self, lag: int | None) -> None:
        """The work waiting, as last measured by the worker itself."""
        with self._lock:
            self._lag = lag

    def backing_off(self, error: BaseException) -> None:
        with self._lock:
            self._enter(WorkerState.BACKING_OFF)
            self._last_error = describe(error)
            self._failures += 1
        self._beat(True)

    def running(self) -> None:
        """Started (or started again): the stall clock starts now if it never did."""
        with self._lock:
            changed = self._enter(WorkerState.RUNNING)
            if self._last_progress is None:
                self._last_progress = time.monotonic()
        self._beat(changed)

    def stopped(self) -> None:
        with self._lock:
            changed = self._enter(WorkerState.STOPPED)
        self._beat(changed)

    def standby(self) -> None:
        """Alive and waiting for the leadership another process holds (renews the beat)."""
        with self._lock:
            changed = self._lead(None) | self._enter(WorkerState.STANDBY)
            self._leadership = "standby"
        self._beat(changed)

    def leading(self, term: int) -> None:
        """This worker leads from now on, in ``term``; it runs next."""
        with self._lock:
            self._lead(term)
            self._leadership = "leader"
        self._beat(True)

    def _enter(self, state: WorkerState) -> bool:
        if state is self._state:
            return False
        self._state = state
        if self._leadership is None and state is not WorkerState.BACKING_OFF:
            self._since = time.time()  # a leader's (standby's) since is its term's start
        return True

    def _lead(self, term: int | None) -> bool:
        changed = term != self._term or self._leadership is None
        if changed:
            self._term = term
            self._since = time.time()
        return changed

    def _beat(self, force: bool) -> None:
        if self._heartbeat is None:
            return
        with self._lock:
            content = {
                "name": self.name,
                "state": self._state.value,
                "leadership": self._leadership,
                "term": self._term,
                "since": self._since,
                "last_progress_at": self._progress_at,
                "last_error": self._last_error,
                "failures": self._failures,
                "position": self._position,
                "lag": self._lag,
            }
        self._heartbeat.write(content, force=force)

    @property
    def progresses(self) -> int:
        with self._lock:
            return self._progresses

    def snapshot(self) -> HealthSnapshot:
        now = time.monotonic()
        with self._lock:
            progress, batch = self._last_progress, self._last_batch
            return HealthSnapshot(
                name=self.name,
                state=self._state,
                last_error=self._last_error,
                failures=self._failures,
                last_progress_age=None if progress is None else now - progress,
                last_batch_age=None if batch is None else now - batch,
                position=self._position,
                lag=self._lag,
                leadership=self._leadership,
                term=self._term,
            )


def check(health: WorkerHealth, stall_seconds: float) -> str:
    """``ok``, or why the worker is not doing its job: not running, or work waiting and no
    progress for ``stall_seconds``. (Readiness; the lag probe may call a server.)"""
    snapshot = health.snapshot()
    if snapshot.state is WorkerState.BACKING_OFF:
        return f"backing off: {snapshot.last_error}"
    if snapshot.state not in (WorkerState.RUNNING, WorkerState.STANDBY):
        return snapshot.state.value
    idle = snapshot.last_progress_age or 0.0
    if idle <= stall_seconds or snapshot.state is WorkerState.STANDBY:  # ready to take over
        return "ok"
    try:
        waiting = health.lag_probe() if health.lag_probe is not None else snapshot.lag
    except Exception as error:
        return f"lag unknown: {describe(error)}"
    if waiting == 0:
        return "ok"
    behind = "work" if waiting is None else f"{waiting} waiting"
    return f"stalled: no progress for {idle:.0f} s with {behind}"


class Workers:
    """The supervised workers of this process, by name (what readiness and the status list)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._workers: dict[str, WorkerHealth] = {}

    def add(self, health: WorkerHealth) -> None:
        with self._lock:
            self._workers[health.name] = health

    def __iter__(self) -> Iterator[WorkerHealth]:
        with self._lock:
            return iter(list(self._workers.values()))


class Supervisor:
    """Runs a worker's loop until ``stop``: every failure is logged, recovered from, backed
    off and retried. The backoff starts again from its shortest wait once the worker has
    progressed since the previous failure."""

    def __init__(
        self,
        health: WorkerHealth,
        *,
        recover: Callable[[], None] = lambda: None,
        backoff: Backoff | None = None,
    ) -> None:
        self.health = health
        self.recover = recover
        self.backoff = backoff or Backoff(initial=0.1, cap=5.0)

    def run(self, loop: Callable[[], None], stop: threading.Event) -> None:
        """``loop`` works until ``stop`` is set (or raises); it reports its own progress."""
        progresses = -1
        self.health.running()
        try:
            while not stop.is_set():
                try:
                    loop()
                    if not stop.is_set():
                        raise RuntimeError(f"{self.health.name} left its loop")
                except Exception as error:
                    self.health.backing_off(error)
                    self._log(error)
                    self._recover()
                    if self.health.progresses != progresses:
                        progresses = self.health.progresses
                        self.backoff.reset()
                    if not self.backoff.wait(stop):
                        break
        finally:
            self.health.stopped()

    def _log(self, error: Exception) -> None:
        if is_transient(error):
            log.warning("%s unavailable (%s); backing off", self.health.name, describe(error))
        else:
            log.exception("%s failed; backing off", self.health.name)

    def _recover(self) -> None:
        try:
            self.recover()
        except Exception:
            log.exception("%s: recovery failed; backing off anyway", self.health.name)
