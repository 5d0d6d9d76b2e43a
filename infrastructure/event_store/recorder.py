"""PostgreSQL application recorder that writes the idempotency ledger with the events.

Every accepted learning event leaves two rows: its stored event (the library's table) and its
``(tenant_id, event_id)`` entry in ``mastery_event_ids``. Both are written in the one
statement (inside the library's insert transaction), so no crash can leave one without the
other. A concurrent writer that already took an ``event_id`` makes the insert fail with an
IntegrityError, exactly as a concurrent writer that took an aggregate version does; the caller
re-reads and retries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

EVENT_IDS_KWARG = "event_ids"

# The library's own insert, fed with four plain arrays in binary format instead of one array
# of a composite type in text format (same rows, a fraction of the encoding cost), and with the
# idempotency entries inserted by the same statement: one statement, so either both land or
# neither, and a taken event_id fails it exactly as a taken aggregate version does.
INSERT_STORED_EVENTS = SQL(
    "INSERT INTO {table} (originator_id, originator_version, topic, state) "
    "SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[]) "
    "RETURNING notification_id"
)
INSERT_STORED_EVENTS_WITH_IDS = SQL(
    "WITH event_ids AS ("
    "INSERT INTO mastery_event_ids "
    "(tenant_id, event_id, content_hash, originator_id, originator_version) "
    "SELECT * FROM unnest(%b::text[], %b::text[], %b::bytea[], %b::uuid[], %b::bigint[])) "
    "INSERT INTO {table} (originator_id, originator_version, topic, state) "
    "SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[]) "
    "RETURNING notification_id"
)

SELECT_EXISTING = SQL(
    "SELECT DISTINCT originator_id FROM {table} "
    "WHERE originator_id = ANY(%b::uuid[]) AND originator_version = 1"
)

SELECT_EVENT_IDS = (
    "SELECT k.tenant_id, k.event_id, i.content_hash, i.originator_id, i.originator_version "
    "FROM unnest(%s::text[], %s::text[]) AS k(tenant_id, event_id) "
    "JOIN mastery_event_ids AS i USING (tenant_id, event_id)"
)


@dataclass(frozen=True, slots=True)
class RecordedEntry:
    """What the idempotency ledger says of an accepted event_id."""

    content_hash: bytes
    place: tuple[UUID, int]  # the stored event it became: (originator_id, originator_version)


@dataclass(frozen=True, slots=True)
class EventIdRow:
    tenant_id: str
    event_id: str
    content_hash: bytes
    originator_id: UUID
    originator_version: int


class IdempotentApplicationRecorder(PostgresApplicationRecorder):
    def _insert_stored_events(
        self,
        curs: Cursor[DictRow],
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> None:
        self._lock_table(curs)
        self._notify_channel(curs)
        events = [
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
        ]
        rows: Sequence[EventIdRow] = kwargs.get(EVENT_IDS_KWARG, ())
        if not rows:
            curs.execute(INSERT_STORED_EVENTS.format(table=self._qualified_table), events)
            return
        ids = [
            [row.tenant_id for row in rows],
            [row.event_id for row in rows],
            [row.content_hash for row in rows],
            [row.originator_id for row in rows],
            [row.originator_version for row in rows],
        ]
        curs.execute(
            INSERT_STORED_EVENTS_WITH_IDS.format(table=self._qualified_table), ids + events
        )

    @property
    def _qualified_table(self) -> Identifier:
        return Identifier(self.datastore.schema, self.events_table_name)

    def existing_originators(self, originator_ids: Iterable[UUID]) -> set[UUID]:
        """Which of the given aggregates have any recorded event (one query for a batch)."""
        ids = list(originator_ids)
        if not ids:
            return set()
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SELECT_EXISTING.format(table=self._qualified_table), (ids,))
            return {row["originator_id"] for row in curs.fetchall()}

    def erased_among(self, originator_ids: Iterable[UUID]) -> set[UUID]:
        """Which of these students are erased (their data key destroyed)."""
        ids = list(originator_ids)
        if not ids:
            return set()
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                "SELECT originator_id FROM student_keys "
                "WHERE originator_id = ANY(%s) AND erased_at IS NOT NULL",
                (ids,),
            )
            return {row["originator_id"] for row in curs.fetchall()}

    def recorded_entries(
        self, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], RecordedEntry]:
        """The ledger's entries for those of the (tenant_id, event_id) pairs already accepted."""
        pairs = list(keys)
        if not pairs:
            return {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SELECT_EVENT_IDS,
                ([tenant for tenant, _ in pairs], [event_id for _, event_id in pairs]),
            )
            return {
                (row["tenant_id"], row["event_id"]): RecordedEntry(
                    bytes(row["content_hash"]),
                    (row["originator_id"], row["originator_version"]),
                )
                for row in curs.fetchall()
            }
