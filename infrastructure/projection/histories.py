"""Students' whole histories read from the event store, for cache misses and rebuilds."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import Mapper, StoredEvent

from domain.errors import StudentErasedError
from domain.mastery.formulas import DEFAULT_FORMULA, Formula
from infrastructure.event_store import tables
from projections.mastery_projection import StudentHistory, histories_from


class StoredHistories:
    """Reads on a connection of its own: opened on first use and again after it broke, rather
    than once per cache miss."""

    def __init__(
        self, database_url: str, mapper: Mapper[UUID], formula: Formula = DEFAULT_FORMULA
    ) -> None:
        self.database_url = database_url
        self.mapper = mapper
        self.formula = formula  # the formula the histories it loads compute with
        self._conn: psycopg.Connection[Any] | None = None

    def load(self, originators: Sequence[UUID], up_to: int) -> dict[UUID, StudentHistory]:
        """Whole histories of the given students, up to a notification id."""
        return histories_from(list(self._decoded(originators, up_to)), self.formula)

    def touched(self, after: int, up_to: int) -> list[UUID]:
        """Students with an event in the notification range ``(after, up_to]``."""
        return tables.touched_students(self._connection(), after, up_to)

    def of_tenant(self, tenant_id: str) -> list[UUID]:
        return tables.tenant_students(self._connection(), tenant_id)

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

    def _decoded(self, originators: Sequence[UUID], up_to: int) -> Iterator[tuple[int, Any]]:
        stored = tables.students_events_up_to(self._connection(), list(originators), up_to)
        for position, event in stored:
            domain_event = self.decode(event)
            if domain_event is not None:
                yield position, domain_event

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self.database_url, autocommit=True)
        return self._conn
