"""The SQL that applies a planned repair of the event store, under the writers' lock.

``integrity.py`` takes the lock (``LOCK TABLE mastery_events IN EXCLUSIVE MODE``, as the
library's recorder takes before each insert), re-checks the students and hands each
``StudentRepair`` of that fresh reading to ``apply_repair``, all in one transaction.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import Mapper, StoredEvent
from psycopg.errors import LockNotAvailable
from psycopg.sql import SQL, Literal

from infrastructure.event_store.check_report import StudentRepair
from infrastructure.event_store.cipher_mapper import StudentCipherMapper

LOCK_TIMEOUT_SECONDS = 30

LOCK_EVENTS = "LOCK TABLE mastery_events IN EXCLUSIVE MODE"
SELECT_STATES = (
    "SELECT originator_version, topic, state FROM mastery_events "
    "WHERE originator_id = %s AND originator_version = ANY(%s)"
)
DELETE_EVENTS = (
    "DELETE FROM mastery_events WHERE originator_id = %s AND originator_version = ANY(%s)"
)
# Versions are moved in two steps, through their negatives, so that no intermediate state
# collides with the primary key (originator_id, originator_version).
PARK_VERSIONS = (
    "UPDATE mastery_events SET originator_version = -originator_version "
    "WHERE originator_id = %s AND originator_version = ANY(%s)"
)
MOVE_VERSIONS = (
    "UPDATE mastery_events AS e SET originator_version = m.new, state = m.state "
    "FROM unnest(%s::bigint[], %s::bigint[], %s::bytea[]) AS m(old, new, state) "
    "WHERE e.originator_id = %s AND e.originator_version = -m.old"
)
MOVE_ID_ROWS = (
    "UPDATE mastery_event_ids AS i SET originator_version = m.new "
    "FROM unnest(%s::bigint[], %s::bigint[]) AS m(old, new) "
    "WHERE i.originator_id = %s AND i.originator_version = m.old"
)
INSERT_ID_ROWS = (
    "INSERT INTO mastery_event_ids "
    "(tenant_id, event_id, content_hash, originator_id, originator_version) "
    "SELECT * FROM unnest(%s::text[], %s::text[], %s::bytea[], %s::uuid[], %s::bigint[])"
)
DELETE_SNAPSHOTS = "DELETE FROM mastery_snapshots WHERE originator_id = %s"


class RepairLockError(RuntimeError):
    def __init__(self) -> None:
        super().__init__(
            f"could not take the event store's write lock within {LOCK_TIMEOUT_SECONDS} s "
            "(a long transaction holds it); nothing was changed, try again"
        )


def lock_writers(conn: psycopg.Connection[Any]) -> None:
    """Take the writers' table lock in the current transaction, or give up after
    ``LOCK_TIMEOUT_SECONDS`` without having changed anything."""
    conn.execute(SQL("SET LOCAL lock_timeout = {}").format(Literal(f"{LOCK_TIMEOUT_SECONDS}s")))
    try:
        conn.execute(LOCK_EVENTS)
    except LockNotAvailable:
        raise RepairLockError from None


def apply_repair(
    conn: psycopg.Connection[Any], mapper: Mapper[UUID], repair: StudentRepair
) -> None:
    """Delete the student's duplicate copies, renumber its versions and their id rows,
    restore its missing id rows, and drop its snapshots (taken at the old versions)."""
    originator_id = repair.originator_id
    if repair.deletes:
        conn.execute(DELETE_EVENTS, (originator_id, [d.version for d in repair.deletes]))
    if repair.moves:
        olds = [old for old, _ in repair.moves]
        news = dict(repair.moves)
        states = {
            version: _moved(mapper, StoredEvent(originator_id, version, topic, bytes(state)), news)
            for version, topic, state in conn.execute(SELECT_STATES, (originator_id, olds))
        }
        conn.execute(PARK_VERSIONS, (originator_id, olds))
        conn.execute(
            MOVE_VERSIONS,
            (olds, [news[old] for old in olds], [states[old] for old in olds], originator_id),
        )
        conn.execute(MOVE_ID_ROWS, (olds, [news[old] for old in olds], originator_id))
    if repair.restores:
        rows = repair.restores
        conn.execute(
            INSERT_ID_ROWS,
            (
                [r.tenant_id for r in rows],
                [r.event_id for r in rows],
                [bytes.fromhex(r.content_hash) for r in rows],
                [r.originator_id for r in rows],
                [r.originator_version for r in rows],
            ),
        )
    conn.execute(DELETE_SNAPSHOTS, (originator_id,))


def _moved(mapper: Mapper[UUID], stored: StoredEvent, news: dict[int, int]) -> bytes:
    """The event's state at its new version: re-sealed when encrypted (the version is in the
    associated data), unchanged otherwise."""
    version = news[stored.originator_version]
    if isinstance(mapper, StudentCipherMapper):
        return mapper.moved(stored, version).state
    return stored.state
