"""Active-standby workers (SPEC §12): one leader per role and stream, the others standing by.

A worker that must not run twice at once (the projector, the results publisher) runs its loop
inside ``Leadership.lead``: it polls a PostgreSQL advisory lock (``advisory_lock``) on a
connection of its own every ``poll`` seconds, standing by (health ``standby``) while another
process holds it; once it holds the lock it starts a **term** (a number larger than every
earlier term's), runs the worker until ``stop`` or until the lock is lost, then stands by again
(contending again only after ``DEMOTED_SECONDS``, so that a standby takes over first).

A leader stops writing as soon as it may have lost the lock:

* a watchdog thread asks the lock connection every ``check_every`` seconds whether the session
  still holds the lock; on "no" or on any error it ends the term (the worker's stop event);
* the worker calls ``confirm()`` before each write batch: the same question, asked right then;
  a doubt raises ``LeadershipLostError`` (a ``TransientError``: the supervisor logs it and, the
  term's stop event being set, ends the worker's loop without writing).

A leader killed with ``kill -9`` loses its session, hence the lock, at once: the standby leads
within ``poll`` seconds. Host loss and partitions are bounded by the lock connection's settings
(``advisory_lock``): the cut-off leader learns it lost the lock before the server frees it.

What ``confirm`` cannot close is the gap between its answer and the write itself: a leader
frozen there while its session ends and a successor begins. A frozen *process* keeps its
session (its kernel answers the keepalives; ``idle_session_timeout`` is off on the lock
connection), so it is never replaced while frozen: its stale heartbeat gets it killed, and a
killed process writes nothing. Only a frozen *host* (a paused virtual machine) can come back
after a successor began. Its late write is bounded by the data: the projector's documents are
guarded per student by the position they reflect and computed from immutable events (a late
write is refused or identical to what the successor writes for that position; a roster score
is the one exception, see docs/projections.md), and the publisher's messages carry
deterministic ids while its tracked position only moves forward.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from prometheus_client import Counter, Gauge

from infrastructure.runtime.advisory_lock import AdvisoryLock, lock_key
from infrastructure.runtime.supervision import Backoff, TransientError, WorkerHealth, describe

log = structlog.get_logger(__name__)

POLL_SECONDS = 0.5
CHECK_SECONDS = 1.0
STOP_SECONDS = 0.1
DEMOTED_SECONDS = 1.0


_leading = Gauge(
    "mastery_leader", "1 while this process leads the role's stream, 0 otherwise", ["role"]
)
_terms = Counter("mastery_leadership_terms", "Leadership terms this process began", ["role"])


class LeadershipLostError(TransientError):
    """This process may no longer lead: it must not write."""


@dataclass
class Term:
    number: int
    lock: AdvisoryLock
    stop: threading.Event = field(default_factory=threading.Event)
    reason: str = ""

    def end(self, reason: str) -> bool:
        """Ends the term (once); True if this call ended it."""
        if self.stop.is_set():
            return False
        self.reason = reason
        self.stop.set()
        return True


class Leadership:
    def __init__(
        self,
        database_url: str,
        role: str,
        stream: str,
        health: WorkerHealth,
        *,
        poll: float = POLL_SECONDS,
        check_every: float = CHECK_SECONDS,
    ) -> None:
        self.database_url = database_url
        self.role = role
        self.stream = stream
        self.key = lock_key(f"{role}/{stream}")
        self.health = health
        self.poll = poll
        self.check_every = check_every
        self._term: Term | None = None

    @property
    def term(self) -> int | None:
        """The current term's number while this process leads."""
        term = self._term
        return None if term is None or term.stop.is_set() else term.number

    def lead(self, stop: threading.Event, work: Callable[[threading.Event], None]) -> None:
        """Stand by until this process holds the lock, run ``work(term_stop)`` while it does,
        and again, until ``stop`` is set. ``work`` must return once ``term_stop`` is set."""
        while not stop.is_set():
            term = self._begin(stop)
            if term is None:
                return
            watchdog = threading.Thread(
                target=self._watch, args=(term, stop), name=f"{self.role}-leadership", daemon=True
            )
            watchdog.start()
            try:
                work(term.stop)
            finally:
                term.end("stopped" if stop.is_set() else "the worker left its loop")
                _leading.labels(self.role).set(0)
                watchdog.join()
                self._term = None
                term.lock.close()
                log.info("leadership_ended", **self._fields(term), reason=term.reason)
            # Demoted but alive (its session was ended, say): a healthy standby goes first.
            self.health.standby()
            stop.wait(max(DEMOTED_SECONDS, 2 * self.poll))

    def confirm(self) -> None:
        """The fence before a write: returns only if this process still holds the lock."""
        term = self._term
        if term is None or term.stop.is_set():
            raise LeadershipLostError(f"{self.role} is not the leader")
        self._check(term)
        if term.stop.is_set():
            raise LeadershipLostError(f"{self.role} lost the leadership: {term.reason}")
        log.debug("leader_writing", **self._fields(term))

    # --- standing by --------------------------------------------------------------------------

    def _begin(self, stop: threading.Event) -> Term | None:
        """The next term, once the lock is ours; None if stopped first."""
        backoff = Backoff(initial=0.2, cap=5.0)
        lock: AdvisoryLock | None = None
        announced = False
        while not stop.is_set():
            try:
                lock = lock or AdvisoryLock(self.database_url, self.key)
                if lock.try_acquire():
                    term = Term(lock.term(), lock)
                    self._term = term
                    self.health.leading(term.number)
                    _leading.labels(self.role).set(1)
                    _terms.labels(self.role).inc()
                    log.info("leadership_gained", **self._fields(term), backend=lock.backend_pid())
                    return term
            except Exception as error:  # the database is unavailable: wait it out
                if lock is not None:
                    _close(lock)
                    lock = None
                self.health.backing_off(error)
                log.warning("leadership_unavailable", role=self.role, error=describe(error))
                if not backoff.wait(stop):
                    break
                continue
            backoff.reset()
            self.health.standby()
            if not announced:
                log.info("leadership_standby", role=self.role, stream=self.stream)
                announced = True
            stop.wait(self.poll)
        if lock is not None:
            _close(lock)
        return None

    # --- leading ------------------------------------------------------------------------------

    def _watch(self, term: Term, stop: threading.Event) -> None:
        """Ends the term on ``stop`` (within ``STOP_SECONDS``) or on a failed check."""
        due = time.monotonic() + self.check_every
        while not term.stop.wait(min(STOP_SECONDS, self.check_every)):
            if stop.is_set():
                term.end("stopped")
                return
            if time.monotonic() >= due:
                self._check(term)
                due = time.monotonic() + self.check_every

    def _check(self, term: Term) -> None:
        try:
            held = term.lock.held()
            reason = "" if held else "the lock is no longer held"
        except Exception as error:  # any doubt is a loss
            held, reason = False, describe(error)
        if not held and term.end(reason):
            _leading.labels(self.role).set(0)
            log.warning("leadership_lost", **self._fields(term), reason=reason)

    def _fields(self, term: Term) -> dict[str, object]:
        return {"role": self.role, "stream": self.stream, "term": term.number}


def _close(lock: AdvisoryLock) -> None:
    with contextlib.suppress(Exception):
        lock.close()
