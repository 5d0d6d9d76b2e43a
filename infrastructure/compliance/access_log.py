"""The append-only access log (SPEC §7), written off the request path.

``AccessLog.record`` only puts an entry on an in-process queue; one writer thread drains it and
copies the entries in batches (every ``interval`` seconds or ``batch_size`` rows, whichever
comes first). While PostgreSQL is unavailable the writer keeps the entries (up to
``max_pending``) and retries with a capped backoff (it is a supervised worker: no failure ends
it), so reads keep working. ``close`` flushes everything still queued: a clean shutdown loses
nothing.

The reads and the purge that exports and retention make on the table are at the bottom, so
every statement on ``access_log`` is in this module.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Generator
from dataclasses import astuple, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg

from infrastructure.runtime.supervision import Supervisor, TransientError, WorkerHealth

log = logging.getLogger(__name__)

COLUMNS = (
    "at, request_id, subject, role, tenant_id, student_id, class_id, route, action, outcome,"
    " status, entry_id"
)
# Copied (fast, off the GIL) into a per-connection staging table, then inserted once: a batch
# retried after a write that committed but lost its answer adds nothing.
STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS access_log_stage"
    " (LIKE access_log INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
COPY = f"COPY access_log_stage ({COLUMNS}) FROM STDIN"
INSERT = (
    f"INSERT INTO access_log ({COLUMNS}) SELECT {COLUMNS} FROM access_log_stage"  # noqa: S608 - fixed names
    " ON CONFLICT (entry_id) DO NOTHING"
)
MIDNIGHT = datetime.min.time()


@dataclass(frozen=True, slots=True)
class AccessEntry:
    at: datetime
    request_id: str
    subject: str
    role: str
    tenant_id: str
    student_id: str | None
    class_id: str | None
    route: str
    action: str
    outcome: str
    status: int
    entry_id: UUID = field(default_factory=uuid4)  # makes a retried write idempotent


class AccessLog:
    def __init__(
        self,
        database_url: str,
        *,
        interval: float = 0.1,
        batch_size: int = 500,
        max_pending: int = 1_000_000,
        connect_timeout: int = 2,
    ) -> None:
        self._url = database_url
        self._interval = interval
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._connect_timeout = connect_timeout
        self._queue: queue.SimpleQueue[AccessEntry | None] = queue.SimpleQueue()
        self._pending: deque[AccessEntry] = deque()
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None
        self._thread = threading.Thread(target=self._run, name="access-log-writer", daemon=True)
        self._stopping = False  # the sentinel of ``close`` was taken from the queue
        self._done = threading.Event()
        self.health = WorkerHealth("access-log", lag_probe=self.backlog)
        self.written = 0
        self.dropped = 0

    def start(self) -> None:
        self._thread.start()

    def record(self, entry: AccessEntry) -> None:
        """Non-blocking: the entry is written by the writer thread."""
        self._queue.put(entry)

    def backlog(self) -> int:
        """Entries recorded and not yet written."""
        return len(self._pending) + self._queue.qsize()

    def close(self, timeout: float = 30.0) -> None:
        """Write every entry recorded so far, then stop the writer."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
        if self._pending:
            log.error("access log: %d entries could not be written", len(self._pending))

    # --- writer thread ------------------------------------------------------------------------

    def _run(self) -> None:
        Supervisor(self.health, recover=self._disconnect).run(self._write_until_closed, self._done)
        if self._connection is not None:
            self._disconnect()

    def _write_until_closed(self) -> None:
        while True:
            if not self._stopping:
                self._stopping = self._collect()
            written = self.written
            self._flush(final=self._stopping)
            self.health.progressed(batch=self.written > written, lag=len(self._pending))
            if self._stopping:
                self._done.set()
                return

    def _collect(self) -> bool:
        """Move queued entries to ``pending`` for up to one interval; True once told to stop."""
        try:
            first = self._queue.get(timeout=self._interval)
        except queue.Empty:
            return False
        if first is None:
            self._drain()
            return True
        self._pending.append(first)
        # Gather for one interval (or a full batch): a write per entry would keep this thread,
        # and the interpreter lock it shares with the API's event loop, busy under load.
        deadline = time.monotonic() + self._interval
        while len(self._pending) < self._batch_size:
            try:
                entry = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return False
            if entry is None:
                self._drain()
                return True
            self._pending.append(entry)
        return False

    def _drain(self) -> bool:
        """Move everything queued to ``pending``; True if the sentinel of ``close`` was in it."""
        stopping = False
        while True:
            try:
                entry = self._queue.get_nowait()
            except queue.Empty:
                return stopping
            if entry is None:
                stopping = True
            else:
                self._pending.append(entry)

    def _flush(self, *, final: bool) -> None:
        """Write ``pending``; when PostgreSQL is down, keep (up to ``max_pending``) and raise,
        for the supervisor to back off — unless this is the final flush of ``close``."""
        attempts = 5 if final else 1
        failure: psycopg.Error | None = None
        for attempt in range(attempts):
            try:
                while self._pending:
                    self._write_batch()
                return
            except psycopg.Error as exc:
                self._disconnect()
                failure = exc
                if attempt + 1 < attempts:
                    log.warning(
                        "access log: write failed (%s); %d pending", exc, len(self._pending)
                    )
                    threading.Event().wait(0.2 * (attempt + 1))
        self._stopping = self._drain() or self._stopping
        self._shed()
        if not final:
            raise TransientError(f"write failed ({failure}); {self.backlog()} pending") from failure

    def _write_batch(self) -> None:
        batch = [self._pending[i] for i in range(min(self._batch_size, len(self._pending)))]
        connection = self._connect()
        with connection.transaction(), connection.cursor() as cursor:
            with cursor.copy(COPY) as copy:
                for entry in batch:
                    copy.write_row(astuple(entry))
            cursor.execute(INSERT)
        for _ in batch:
            self._pending.popleft()
        self.written += len(batch)

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(
                self._url, connect_timeout=self._connect_timeout, autocommit=True
            )
            self._connection.execute(STAGE)
        return self._connection

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _shed(self) -> None:
        while len(self._pending) > self._max_pending:
            self._pending.popleft()
            self.dropped += 1


# --- reading and purging (exports, retention) ---------------------------------------------------


def entries(
    conn: psycopg.Connection[Any],
    columns: tuple[str, ...],
    tenant_id: str,
    student_id: str | None,
    start: date | None,
    end: date | None,
    page: int,
) -> Generator[dict[str, Any], None, None]:
    """The tenant's entries (one student's, when named) dated in [start, end], in the order
    they were written, as ``columns`` → value; fetched ``page`` rows at a time."""
    clauses, params = ["tenant_id = %s"], [tenant_id]
    if student_id is not None:
        clauses.append("student_id = %s")
        params.append(student_id)
    if start is not None and start > date.min:
        clauses.append("at >= %s")
        params.append(datetime.combine(start, MIDNIGHT, tzinfo=UTC))  # type: ignore[arg-type]
    if end is not None and end < date.max:
        clauses.append("at < %s")
        params.append(datetime.combine(end + timedelta(days=1), MIDNIGHT, tzinfo=UTC))  # type: ignore[arg-type]
    names, where = ", ".join(columns), " AND ".join(clauses)
    query = f"SELECT {names} FROM access_log WHERE {where} ORDER BY id"  # noqa: S608 - fixed names
    with conn.cursor(name="audit_access") as cursor:
        cursor.itersize = page
        cursor.execute(query, params)
        for row in cursor:
            yield dict(zip(columns, row, strict=True))


def count_before(conn: psycopg.Connection[Any], cutoff: datetime) -> int:
    row = conn.execute("SELECT count(*) FROM access_log WHERE at < %s", (cutoff,)).fetchone()
    return int(row[0]) if row else 0


def purge_before(conn: psycopg.Connection[Any], cutoff: datetime) -> None:
    conn.execute("DELETE FROM access_log WHERE at < %s", (cutoff,))
