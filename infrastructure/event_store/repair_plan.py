"""The safe repairs of the store check's problems, as pure functions.

Safe repairs, each only for a student whose every problem is safely repairable:

* delete a copy of a learning event that has no id row when another copy of the same
  ``(tenant, event_id)`` with the same content has its row;
* restore the id row of a learning event that is the only stored carrier of its ``event_id``
  and has none (the row is rebuilt from the event itself, as the write path would have);
* renumber the student's versions to close the hole a deleted copy leaves and, for a
  ``version_order`` problem, to follow commit (notification) order, which the order-independent
  formula (SPEC §4) allows. Notification ids never change, so no follower re-reads or skips.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from uuid import UUID

from infrastructure.event_store.check_facts import (
    IdRow,
    Location,
    StoredFact,
    content_hash_of,
    event_id_of,
)
from infrastructure.event_store.check_report import Kind, Problem, StudentRepair


def plan_repairs(
    facts: Mapping[UUID, Sequence[StoredFact]], problems: Sequence[Problem]
) -> tuple[list[Problem], list[StudentRepair]]:
    """Each problem with its planned repair, or why it needs manual action; and the repair of
    every student whose problems are all safe to repair (a student with any other problem is
    left as it is)."""
    by_student: defaultdict[UUID | None, list[Problem]] = defaultdict(list)
    for found in problems:
        by_student[found.originator_id].append(found)
    planned: list[Problem] = []
    repairs: list[StudentRepair] = []
    for originator_id, own in by_student.items():
        blocking = sorted({p.kind.value for p in own if p.manual is not None})
        history = facts.get(originator_id) if originator_id is not None else None
        if blocking or not history:
            why = f"blocked by this student's {', '.join(blocking) or 'unread events'}"
            planned.extend(p if p.manual else replace(p, manual=why) for p in own)
            continue
        repair = _plan_student(history, own)
        repairs.append(repair)
        planned.extend(replace(p, repair=_describe(p, repair)) for p in own)
    return planned, repairs


def _plan_student(facts: Sequence[StoredFact], problems: Sequence[Problem]) -> StudentRepair:
    enrolment = facts[0]
    assert enrolment.tenant_id is not None
    assert enrolment.student_id is not None
    duplicates = {p.versions[0] for p in problems if p.kind is Kind.DUPLICATE}
    restored = {p.versions[0] for p in problems if p.kind is Kind.MISSING_ID_ROW}
    reordered = any(p.kind is Kind.VERSION_ORDER for p in problems)
    kept = [f for f in facts if f.version not in duplicates]
    if reordered:
        kept.sort(key=lambda f: f.notification_id)
    renumbered = {fact.version: new for new, fact in enumerate(kept, start=1)}
    return StudentRepair(
        originator_id=enrolment.originator_id,
        tenant_id=enrolment.tenant_id,
        student_id=enrolment.student_id,
        deletes=tuple(
            Location(f.originator_id, f.version, f.notification_id)
            for f in facts
            if f.version in duplicates
        ),
        moves=tuple((old, new) for old, new in renumbered.items() if old != new),
        restores=tuple(
            IdRow(
                enrolment.tenant_id,
                event_id_of(f),
                content_hash_of(f),
                f.originator_id,
                renumbered[f.version],
            )
            for f in facts
            if f.version in restored
        ),
        reordered=reordered,
    )


def _describe(found: Problem, repair: StudentRepair) -> str:
    if found.kind is Kind.DUPLICATE:
        return f"delete this copy (version {found.versions[0]})"
    if found.kind is Kind.MISSING_ID_ROW:
        return "restore the id row from the event"
    return f"renumber {len(repair.moves)} version(s) to follow commit order"
