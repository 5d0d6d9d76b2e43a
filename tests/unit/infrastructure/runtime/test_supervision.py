"""The supervision pattern: a worker leaves its loop only on stop, whatever fails, and its
health says what readiness needs (state, last error, progress while work waits)."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from infrastructure.runtime.supervision import (
    Backoff,
    Supervisor,
    WorkerHealth,
    WorkerState,
    check,
    is_transient,
)


def _fast() -> Backoff:
    return Backoff(initial=0.001, cap=0.004)


def test_a_failing_loop_is_retried_until_it_works_and_leaves_only_on_stop() -> None:
    health = WorkerHealth("w")
    stop = threading.Event()
    calls: list[str] = []
    recovered: list[int] = []

    def loop() -> None:
        calls.append("call")
        if len(calls) <= 3:
            raise RuntimeError(f"failure {len(calls)}")
        health.progressed(batch=True, position=7)
        stop.set()

    Supervisor(health, recover=lambda: recovered.append(1), backoff=_fast()).run(loop, stop)
    snapshot = health.snapshot()
    assert len(calls) == 4
    assert len(recovered) == 3
    assert snapshot.failures == 3
    assert snapshot.last_error == "RuntimeError: failure 3"
    assert snapshot.position == 7
    assert snapshot.state is WorkerState.STOPPED


def test_a_failing_recovery_does_not_end_the_worker() -> None:
    health = WorkerHealth("w")
    stop = threading.Event()
    calls: list[int] = []

    def loop() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise redis.ConnectionError("down")
        stop.set()

    def recover() -> None:
        raise redis.ConnectionError("still down")  # a recovery that calls the failed server

    Supervisor(health, recover=recover, backoff=_fast()).run(loop, stop)
    assert len(calls) == 3


def test_a_loop_that_returns_without_stop_is_run_again() -> None:
    health = WorkerHealth("w")
    stop = threading.Event()
    calls: list[int] = []

    def loop() -> None:
        calls.append(1)
        if len(calls) == 2:
            stop.set()

    Supervisor(health, backoff=_fast()).run(loop, stop)
    assert len(calls) == 2
    assert health.snapshot().failures == 1


def test_stop_during_the_backoff_ends_the_worker_at_once() -> None:
    health = WorkerHealth("w")
    stop = threading.Event()

    def loop() -> None:
        raise RuntimeError("always")

    supervisor = Supervisor(health, backoff=Backoff(initial=60.0, cap=60.0))
    thread = threading.Thread(target=supervisor.run, args=(loop, stop))
    thread.start()
    deadline = time.monotonic() + 5
    while health.snapshot().failures == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert check(health, 30) == "backing off: RuntimeError: always"
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    assert check(health, 30) == "stopped"


class _RecordingStop(threading.Event):
    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.waits.append(timeout)
        return False


def test_the_backoff_grows_capped_and_jittered_and_resets() -> None:
    backoff = Backoff(initial=0.1, cap=0.4)
    stop = _RecordingStop()
    for _ in range(5):
        assert backoff.wait(stop)
    backoff.reset()
    assert backoff.wait(stop)
    for waited, nominal in zip(stop.waits, [0.1, 0.2, 0.4, 0.4, 0.4, 0.1], strict=True):
        assert 0.8 * nominal <= waited <= nominal


@pytest.mark.parametrize(
    ("waiting", "idle", "verdict"),
    [
        (5, 0.0, "ok"),  # progressing
        (0, 100.0, "ok"),  # idle with nothing to do
        (5, 100.0, "stalled: no progress for 100 s with 5 waiting"),
    ],
)
def test_readiness_fails_a_running_worker_only_when_work_waits_without_progress(
    waiting: int, idle: float, verdict: str
) -> None:
    health = WorkerHealth("w", lag_probe=lambda: waiting)
    health.progressed()
    health._last_progress = time.monotonic() - idle
    assert check(health, stall_seconds=30).startswith(verdict)


def test_a_lag_probe_that_fails_makes_a_quiet_worker_not_ready() -> None:
    def probe() -> int:
        raise redis.ConnectionError("down")

    health = WorkerHealth("w", lag_probe=probe)
    health.progressed()
    health._last_progress = time.monotonic() - 100
    assert check(health, 30).startswith("lag unknown: ConnectionError")


def test_transient_failures_are_found_through_the_cause_chain() -> None:
    wrapped = RuntimeError("wrapped")
    wrapped.__cause__ = redis.ConnectionError("down")
    assert is_transient(wrapped)
    assert not is_transient(ValueError("bad input"))


@pytest.mark.parametrize(
    "error",
    [
        redis.exceptions.ClusterDownError("CLUSTERDOWN The cluster is down"),
        redis.exceptions.MasterDownError("MASTERDOWN Link with MASTER is down"),
        redis.exceptions.TryAgainError("TRYAGAIN"),
        redis.exceptions.MovedError("3999 127.0.0.1:6381"),
        redis.exceptions.SlotNotCoveredError("slot 7 is not covered"),
    ],
)
def test_a_redis_cluster_in_failover_or_resharding_is_waited_out(error: Exception) -> None:
    assert is_transient(error)
    assert not is_transient(redis.exceptions.RedisClusterException("keys in two slots"))
