"""A PostgreSQL session-level advisory lock on a connection of its own (all its SQL is here).

The lock lives exactly as long as the session: when the holder's process dies, its socket
closes, the server ends the session and releases the lock at once. For a holder whose host
vanishes without closing the socket, both ends of the connection are set to notice:

* **the server** probes the holder with TCP keepalives (idle 5 s, then 3 probes 2 s apart, and
  a 10 s TCP user timeout) and ends the session on a dead peer: the lock is free within about
  11 seconds;
* **the holder** gives up on an unanswered request after ``CLIENT_TIMEOUT_MS`` (TCP user
  timeout) and probes with keepalives of its own (idle 2 s, 3 probes 1 s apart), so a holder
  cut off from the server learns it lost the lock within about five seconds — before the server
  can free it for another.

``idle_session_timeout`` is set to 0 on the session, whatever the server's default: a holder
whose process is frozen (SIGSTOP) keeps the lock, because its kernel still answers the
keepalives. Freeing it would let the frozen process, once resumed, write after a successor
began; instead a frozen worker stops renewing its heartbeat and its liveness probe
(``mastery ready``) has it killed, which frees the lock safely.

Keys are signed 64-bit integers from ``lock_key(name)``: the first 8 bytes of BLAKE2b of
``mastery-engine/<name>``. Advisory locks are per database, so one key serves every deployment.
"""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg

CLIENT_TIMEOUT_MS = 5_000
STATEMENT_TIMEOUT_MS = 5_000

_SERVER_OPTIONS = " ".join(
    f"-c {name}={value}"
    for name, value in (
        ("idle_session_timeout", 0),
        ("idle_in_transaction_session_timeout", 0),
        ("statement_timeout", STATEMENT_TIMEOUT_MS),
        ("tcp_keepalives_idle", 5),
        ("tcp_keepalives_interval", 2),
        ("tcp_keepalives_count", 3),
        ("tcp_user_timeout", 10_000),
    )
)
_CLIENT_OPTIONS: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 2,
    "keepalives_interval": 1,
    "keepalives_count": 3,
    "tcp_user_timeout": CLIENT_TIMEOUT_MS,
    "connect_timeout": 5,
    "application_name": "mastery-leadership",
}

_HELD = """
SELECT EXISTS (
  SELECT 1 FROM pg_locks
  WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted AND objsubid = 1
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND ((classid::int8 << 32) | objid::int8) = %s
)
"""


def lock_key(name: str) -> int:
    digest = hashlib.blake2b(f"mastery-engine/{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class AdvisoryLock:
    """One connection, one key. Not thread-bound: psycopg serialises the connection's use."""

    def __init__(self, database_url: str, key: int) -> None:
        self.key = key
        self._connection = psycopg.connect(
            database_url, autocommit=True, options=_SERVER_OPTIONS, **_CLIENT_OPTIONS
        )

    def try_acquire(self) -> bool:
        """Take the lock if free (never waits); True if this session holds it now."""
        return bool(self._one("SELECT pg_try_advisory_lock(%s)", self.key))

    def held(self) -> bool:
        """Whether this session still holds the lock (raises if the connection is gone)."""
        return bool(self._one(_HELD, self.key))

    def term(self) -> int:
        """A number larger than any earlier term's, for any key: a fresh transaction id
        (64-bit, never reused), taken once the lock is held."""
        return int(self._one("SELECT pg_current_xact_id()::text::int8"))

    def backend_pid(self) -> int:
        return int(self._one("SELECT pg_backend_pid()"))

    def close(self) -> None:
        """Ends the session, and with it the lock."""
        self._connection.close()

    def _one(self, query: str, *params: object) -> Any:
        row = self._connection.execute(query, params).fetchone()
        assert row is not None
        return row[0]
