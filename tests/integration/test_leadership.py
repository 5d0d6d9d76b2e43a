"""Leadership by a PostgreSQL advisory lock (SPEC §12): one contender leads, the other stands
by and takes over when the leader's session ends, and a leader whose session died writes
nothing more."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from prometheus_client import REGISTRY

from infrastructure.runtime.leadership import Leadership, LeadershipLostError
from infrastructure.runtime.supervision import WorkerHealth, WorkerState
from tests.killable import wait_until

TAKEOVER_SECONDS = 5.0  # a standby polls every 0.1 s here: generous for a busy machine


@dataclass
class Contender:
    """A leadership whose work records each confirmed write as (term, when its confirmation
    was asked for): a write whose confirmation began after the session ended must not exist."""

    leadership: Leadership
    writes: list[tuple[int, float]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)

    def work(self, term_stop: threading.Event) -> None:
        while not term_stop.is_set():
            asked = time.monotonic()
            try:
                self.leadership.confirm()
            except LeadershipLostError as error:
                self.refusals.append(str(error))
                return
            term = self.leadership.term
            assert term is not None
            self.writes.append((term, asked))
            term_stop.wait(0.02)

    @property
    def state(self) -> WorkerState:
        return self.leadership.health.snapshot().state

    @property
    def leads(self) -> bool:
        return self.leadership.term is not None


def _leadership(database_url: str, name: str, *, check_every: float = 1.0) -> Leadership:
    return Leadership(
        database_url, "tester", "stream", WorkerHealth(name), poll=0.1, check_every=check_every
    )


@contextmanager
def contending(*contenders: Contender) -> Iterator[threading.Event]:
    stop = threading.Event()
    threads = [
        threading.Thread(target=c.leadership.lead, args=(stop, c.work), daemon=True)
        for c in contenders
    ]
    for thread in threads:
        thread.start()
    try:
        yield stop
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
    assert not any(t.is_alive() for t in threads), "a contender did not stop"


def _holder_backend(database_url: str) -> int:
    """The PostgreSQL backend holding an advisory lock in this test's database."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        row = connection.execute(
            "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
            " WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()"
        ).fetchone()
    assert row is not None, "nobody holds the lock"
    return int(row[0])


def _terminate(database_url: str, backend: int) -> float:
    """Ends a backend as a dead host would; returns when it is gone (monotonic time)."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("SELECT pg_terminate_backend(%s, 5000)", (backend,))
    return time.monotonic()


def _one_leads(first: Contender, second: Contender) -> Callable[[], bool]:
    return lambda: first.leads != second.leads


def test_of_two_contenders_one_leads_and_the_other_stands_by(database_url: str) -> None:
    first = Contender(_leadership(database_url, "a"))
    second = Contender(_leadership(database_url, "b"))
    with contending(first, second):
        wait_until(_one_leads(first, second), 10, "a leader")
        leader, standby = (first, second) if first.leads else (second, first)
        wait_until(lambda: standby.state is WorkerState.STANDBY, 10, "the other standing by")
        wait_until(lambda: len(leader.writes) >= 5, 10, "the leader writing")
        assert standby.writes == []
        assert leader.leadership.health.snapshot().leadership == "leader"
        assert standby.leadership.health.snapshot().leadership == "standby"
        assert leader.leadership.key == standby.leadership.key
        assert REGISTRY.get_sample_value("mastery_leader", {"role": "tester"}) == 1.0


def test_the_standby_takes_over_within_seconds_of_the_leaders_session_ending(
    database_url: str,
) -> None:
    first = Contender(_leadership(database_url, "a"))
    second = Contender(_leadership(database_url, "b"))
    with contending(first, second):
        wait_until(_one_leads(first, second), 10, "a leader")
        leader, standby = (first, second) if first.leads else (second, first)
        old_term = leader.leadership.term
        assert old_term is not None
        wait_until(lambda: bool(leader.writes), 10, "the leader writing")
        ended = _terminate(database_url, _holder_backend(database_url))
        wait_until(lambda: bool(standby.writes), TAKEOVER_SECONDS, "the standby to take over")
        took_over = standby.writes[0][1] - ended
        new_term = standby.writes[0][0]
        assert new_term > old_term
        # The old leader stopped before its next write and now stands by.
        assert all(when < ended for term, when in leader.writes if term == old_term)
        assert leader.refusals or leader.state is WorkerState.STANDBY
        wait_until(lambda: leader.state is WorkerState.STANDBY, 10, "the old leader standing by")
    assert took_over < TAKEOVER_SECONDS


def test_a_leader_whose_connection_dies_writes_nothing_more(database_url: str) -> None:
    """The watchdog checks rarely here (every 60 s): the fence before each write is what
    stops the leader, at its very next write."""
    alone = Contender(_leadership(database_url, "a", check_every=60.0))
    with contending(alone):
        wait_until(lambda: alone.leads and len(alone.writes) >= 3, 10, "a leader writing")
        first_term = alone.writes[0][0]
        ended = _terminate(database_url, _holder_backend(database_url))
        wait_until(lambda: bool(alone.refusals), 5, "the next write refused")
        assert "lost the leadership" in alone.refusals[0]
        assert all(when < ended for term, when in alone.writes if term == first_term)
        # Alone, it becomes leader again at once, in a later term.
        wait_until(lambda: alone.writes[-1][0] > first_term, 10, "a new term")


def test_a_standby_waits_out_an_unreachable_database_and_says_so(database_url: str) -> None:
    server = database_url.rsplit("/", 1)[0]
    lonely = Contender(_leadership(server + "/no_such_database_here", "a"))
    with contending(lonely):
        wait_until(lambda: lonely.state is WorkerState.BACKING_OFF, 10, "backing off")
        assert lonely.writes == []
        assert "no_such_database_here" in str(lonely.leadership.health.snapshot().last_error)


_FROZEN_LEADER = """
import sys, threading
from infrastructure.runtime.leadership import Leadership
from infrastructure.runtime.supervision import WorkerHealth

leadership = Leadership(sys.argv[1], "tester", "stream", WorkerHealth("frozen"), poll=0.1)

def work(term_stop):
    print("leading", file=sys.stderr, flush=True)
    while not term_stop.wait(0.05):
        leadership.confirm()

leadership.lead(threading.Event(), work)
"""


def test_a_frozen_leader_keeps_the_lock_until_it_is_killed(
    database_url: str, tmp_path: Path
) -> None:
    """SIGSTOP past any timeout: the session stays (the kernel answers keepalives), so no
    successor begins while the frozen leader could still resume and write; once killed, the
    standby leads within seconds."""
    frozen = subprocess.Popen(
        [sys.executable, "-c", _FROZEN_LEADER, database_url],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,  # the library's default logs
        stderr=subprocess.PIPE,
    )
    try:
        assert frozen.stderr is not None
        assert frozen.stderr.readline() == b"leading\n"
        standby = Contender(_leadership(database_url, "b"))
        with contending(standby):
            wait_until(lambda: standby.state is WorkerState.STANDBY, 10, "standing by")
            frozen.send_signal(signal.SIGSTOP)
            watched_until = time.monotonic() + 12.0  # past the server's keepalive detection
            while time.monotonic() < watched_until:  # an invariant watched for a while
                assert not standby.writes, "a successor began while the leader was frozen"
                assert standby.state is WorkerState.STANDBY
                time.sleep(0.2)
            frozen.send_signal(signal.SIGKILL)
            frozen.wait(10)
            killed = time.monotonic()
            wait_until(lambda: bool(standby.writes), TAKEOVER_SECONDS, "the standby to lead")
            assert standby.writes[0][1] - killed < TAKEOVER_SECONDS
    finally:
        if frozen.poll() is None:
            frozen.kill()
            frozen.wait(10)
        if frozen.stderr is not None:
            frozen.stderr.close()
