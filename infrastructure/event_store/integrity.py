"""``mastery store check`` and its repairs: one consistent reading of the store, judged per student.

The check reads the store (``check_reader.py``) in one snapshot (REPEATABLE READ), merging the
stream of stored events with the stream of id rows as they go, so memory holds one student's
facts at a time (plus the facts of broken students), whatever the size of the store. What is
broken is decided by ``invariants.py``, what is safe to repair by ``repair_plan.py``; erased
students' events are counted and skipped, never decoded.

A repair runs in one transaction holding the writers' table lock (``LOCK TABLE mastery_events
IN EXCLUSIVE MODE``, as the library's recorder takes before each insert), re-checks the broken
students under it and applies the plan made from that fresh reading, so no writer interleaves
and nothing the dry run did not see is touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import groupby
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import Mapper, StoredEvent
from psycopg import IsolationLevel

from infrastructure.event_store.check_facts import FactKind, IdRow, StoredFact
from infrastructure.event_store.check_reader import (
    as_uuid,
    decoded_fact,
    erased_students,
    keyring_for_check,
    stored_events,
    stored_id_rows,
    targets,
)
from infrastructure.event_store.check_report import Problem, Report
from infrastructure.event_store.invariants import (
    Unmatched,
    check_student,
    classify_unmatched,
    orphan_problems,
)
from infrastructure.event_store.keys import KeyRing
from infrastructure.event_store.repair_plan import plan_repairs
from infrastructure.event_store.repair_writer import apply_repair, lock_writers

Progress = Callable[[int], None]


def check_store(
    database_url: str, mapper: Mapper[UUID], on_progress: Progress = lambda _: None
) -> Report:
    """The whole store checked in one consistent snapshot, with the safe repairs planned."""
    with psycopg.connect(database_url) as conn:
        conn.isolation_level = IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            return _inspect(conn, mapper, None, on_progress)


def repair_store(database_url: str, mapper: Mapper[UUID], originators: Sequence[UUID]) -> Report:
    """Re-check these students under the writers' lock and apply the safe repairs found, in
    one transaction. Returns that report: its ``repairs`` are what was applied."""
    if not originators:
        return Report()
    with psycopg.connect(database_url) as conn, conn.transaction():
        lock_writers(conn)
        report = _inspect(conn, mapper, list(originators), lambda _: None)
        for repair in report.repairs:
            apply_repair(conn, mapper, repair)
    return report


def _inspect(
    conn: psycopg.Connection[Any],
    mapper: Mapper[UUID],
    only: list[UUID] | None,
    on_progress: Progress,
) -> Report:
    keyring = keyring_for_check(conn, mapper)
    erased = erased_students(conn)
    scan = _Scan(mapper, keyring, erased)
    id_rows = _IdRows(stored_id_rows(conn, only))
    events = stored_events(conn, only, keyring, erased, on_progress)
    for originator_id, group in groupby(events, key=lambda row: as_uuid(row[0].originator_id)):
        scan.orphans(id_rows.take_below(originator_id))
        scan.student(originator_id, group, id_rows)
    scan.orphans(id_rows.take_all())
    report = scan.report
    problems = scan.problems + classify_unmatched(
        scan.unmatched, targets(conn, mapper, scan.unmatched)
    )
    report.problems, report.repairs = plan_repairs(scan.facts_of_broken, problems)
    report.problems.sort(key=_display_order)
    report.repairs.sort(key=lambda repair: (repair.tenant_id, repair.student_id))
    return report


class _Scan:
    """What the check keeps while the store streams past: counts, problems, and the facts of
    the students that have any (the repair plan needs them)."""

    def __init__(self, mapper: Mapper[UUID], keyring: KeyRing | None, erased: set[UUID]) -> None:
        self.mapper = mapper
        self.keyring = keyring
        self.erased = erased
        self.report = Report()
        self.problems: list[Problem] = []
        self.unmatched: list[Unmatched] = []
        self.facts_of_broken: dict[UUID, list[StoredFact]] = {}

    def orphans(self, rows: Iterable[IdRow]) -> None:
        """Id rows of aggregates without any stored event."""
        kept = [row for row in rows if row.originator_id not in self.erased]
        self.report.counts.id_rows += len(kept)
        self.problems.extend(orphan_problems(kept))

    def student(
        self,
        originator_id: UUID,
        rows: Iterable[tuple[StoredEvent, int]],
        id_rows: _IdRows,
    ) -> None:
        counts = self.report.counts
        if originator_id in self.erased:
            counts.erased_students += 1
            counts.erased_events += sum(1 for _ in rows)
            counts.erased_id_rows += len(id_rows.take_through(originator_id))
            return
        facts: list[StoredFact] = []
        orphans: list[IdRow] = []
        for stored, notification_id in rows:
            orphans.extend(id_rows.take_before(originator_id, stored.originator_version))
            attached = id_rows.take_at(originator_id, stored.originator_version)
            facts.append(decoded_fact(self.mapper, stored, notification_id, attached))
        orphans.extend(id_rows.take_through(originator_id))
        if self.keyring is not None:
            self.keyring.forget(originator_id)  # keeps memory flat over millions of students
        counts.students += 1
        counts.events += len(facts)
        counts.learning_events += sum(1 for f in facts if f.kind is FactKind.LEARNING)
        counts.id_rows += len(orphans) + sum(len(f.id_rows) for f in facts)
        found = check_student(facts, orphans)
        if found.problems or found.unmatched:
            self.facts_of_broken[originator_id] = facts
            self.problems.extend(found.problems)
            self.unmatched.extend(found.unmatched)


class _IdRows:
    """The id rows in (originator_id, originator_version) order, taken as the events pass."""

    def __init__(self, rows: Iterator[IdRow]) -> None:
        self._rows = rows
        self._next = next(rows, None)

    def take_below(self, originator_id: UUID) -> list[IdRow]:
        """The rows of aggregates before this one."""
        return self._take(lambda row: row.originator_id < originator_id)

    def take_before(self, originator_id: UUID, version: int) -> list[IdRow]:
        return self._take(
            lambda row: (row.originator_id, row.originator_version) < (originator_id, version)
        )

    def take_at(self, originator_id: UUID, version: int) -> list[IdRow]:
        return self._take(
            lambda row: (row.originator_id, row.originator_version) == (originator_id, version)
        )

    def take_through(self, originator_id: UUID) -> list[IdRow]:
        """The rows up to and including this aggregate's last."""
        return self._take(lambda row: row.originator_id <= originator_id)

    def take_all(self) -> list[IdRow]:
        return self._take(lambda row: True)

    def _take(self, wanted: Callable[[IdRow], bool]) -> list[IdRow]:
        taken: list[IdRow] = []
        while self._next is not None and wanted(self._next):
            taken.append(self._next)
            self._next = next(self._rows, None)
        return taken


def _display_order(problem: Problem) -> tuple[str, str, str, tuple[int, ...], str]:
    return (
        problem.tenant_id or "",
        problem.student_id or "",
        str(problem.originator_id),
        problem.versions,
        problem.kind.value,
    )
