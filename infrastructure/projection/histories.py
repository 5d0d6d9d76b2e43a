"""Students' whole histories read from the event store, for cache misses and rebuilds."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import Mapper, StoredEvent

from domain.errors import StudentErasedError
from projections.mastery_projection import StudentHistory, histories_from

SELECT_STUDENT_EVENTS = (
    "SELECT originator_id, originator_version, topic, state, notification_id "
    "FROM mastery_events WHERE originator_id = ANY(%s) AND notification_id <= %s "
    "ORDER BY originator_id, originator_version"
)
SELECT_TOUCHED = (
    "SELECT DISTINCT originator_id FROM mastery_events "
    "WHERE notification_id > %s AND notification_id <= %s"
)
SELECT_TENANT_STUDENTS = "SELECT DISTINCT originator_id FROM mastery_event_ids WHERE tenant_id = %s"


class StoredHistories:
    """Reads on a connection of its own: opened on first use and again after it broke, rather
    than once per cache miss."""

    def __init__(self, database_url: str, mapper: Mapper[UUID]) -> None:
        self.database_url = database_url
        self.mapper = mapper
        self._conn: psycopg.Connection[Any] | None = None

    def load(self, originators: Sequence[UUID], up_to: int) -> dict[UUID, StudentHistory]:
        """Whole histories of the given students, up to a notification id."""
        return histories_from(list(self._stored_events(originators, up_to)))

    def touched(self, after: int, up_to: int) -> list[UUID]:
        """Students with an event in the notification range ``(after, up_to]``."""
        return sorted(row[0] for row in self._rows(SELECT_TOUCHED, (after, up_to)))

    def of_tenant(self, tenant_id: str) -> list[UUID]:
        return sorted(row[0] for row in self._rows(SELECT_TENANT_STUDENTS, (tenant_id,)))

    def decode(self, stored: StoredEvent) -> Any | None:
        """The domain event, or None for an erased student's (unreadable by design)."""
        try:
            return self.mapper.to_domain_event(stored)
        except StudentErasedError:
            return None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _stored_events(self, originators: Sequence[UUID], up_to: int) -> Iterator[tuple[int, Any]]:
        rows = self._rows(SELECT_STUDENT_EVENTS, (list(originators), up_to))
        for originator_id, version, topic, state, notification_id in rows:
            domain_event = self.decode(StoredEvent(originator_id, version, topic, bytes(state)))
            if domain_event is not None:
                yield notification_id, domain_event

    def _rows(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self.database_url, autocommit=True)
        return self._conn.execute(query, params).fetchall()
