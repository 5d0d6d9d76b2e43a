"""PostgreSQL application recorder that writes the idempotency ledger with the events.

Every accepted learning event leaves two rows: its stored event (the library's table) and its
``(tenant_id, event_id)`` entry in ``mastery_event_ids``. Both are written in the one
transaction the library opens for ``insert_events``, so no crash can leave one without the
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

EVENT_IDS_KWARG = "event_ids"

INSERT_EVENT_IDS = (
    "INSERT INTO mastery_event_ids "
    "(tenant_id, event_id, content_hash, originator_id, originator_version) "
    "SELECT * FROM unnest(%s::text[], %s::text[], %s::bytea[], %s::uuid[], %s::bigint[])"
)

SELECT_EVENT_IDS = (
    "SELECT k.tenant_id, k.event_id, i.content_hash "
    "FROM unnest(%s::text[], %s::text[]) AS k(tenant_id, event_id) "
    "JOIN mastery_event_ids AS i USING (tenant_id, event_id)"
)


@dataclass(frozen=True, slots=True)
class EventIdRow:
    tenant_id: str
    event_id: str
    content_hash: bytes
    originator_id: UUID
    originator_version: int


class IdempotentApplicationRecorder(PostgresApplicationRecorder):
    def _insert_events(
        self,
        curs: Cursor[DictRow],
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> None:
        rows: Sequence[EventIdRow] = kwargs.get(EVENT_IDS_KWARG, ())
        if not rows:
            return
        # A fixed insertion order keeps two writers with overlapping ids from deadlocking.
        ordered = sorted(rows, key=lambda row: (row.tenant_id, row.event_id))
        curs.execute(
            INSERT_EVENT_IDS,
            (
                [row.tenant_id for row in ordered],
                [row.event_id for row in ordered],
                [row.content_hash for row in ordered],
                [row.originator_id for row in ordered],
                [row.originator_version for row in ordered],
            ),
        )

    def recorded_hashes(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], bytes]:
        """Content hashes of the given (tenant_id, event_id) pairs that are already recorded."""
        pairs = list(keys)
        if not pairs:
            return {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SELECT_EVENT_IDS,
                ([tenant for tenant, _ in pairs], [event_id for _, event_id in pairs]),
            )
            return {
                (row["tenant_id"], row["event_id"]): bytes(row["content_hash"])
                for row in curs.fetchall()
            }
