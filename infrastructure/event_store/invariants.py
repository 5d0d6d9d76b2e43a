"""The event store's invariants (SPEC §10), as pure functions.

``check_reader.py`` streams the store and turns each stored event into a ``StoredFact`` (what
the check needs of it, without its state); the functions here decide what is broken against
these invariants (``repair_plan.py`` decides what can be repaired without losing or inventing
anything):

* every stored learning event has its idempotency row: ``(tenant, event_id)`` of the event
  itself, pointing at the event's ``(originator_id, originator_version)``; every id row points
  at a stored event that carries its ``event_id`` (``missing_id_row``, ``id_row_mismatch``,
  ``orphan_id_row``);
* an accepted ``event_id`` is stored once per tenant (``duplicate``);
* a student's versions run 1, 2, 3... from the enrolment (``version_gap``,
  ``bad_enrollment``) and their notification ids increase with them (``version_order``);
* a stored event of a student who is not erased can be read (``unreadable``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from uuid import UUID

from infrastructure.event_store.check_facts import (
    FactKind,
    IdRow,
    StoredFact,
    Target,
    event_id_of,
)
from infrastructure.event_store.check_report import Kind, Problem

LISTED = 20  # versions or rows listed in one problem; the detail gives the full count


@dataclass(frozen=True, slots=True)
class Unmatched:
    """A learning event without its own id row, to be classified across the store."""

    fact: StoredFact
    tenant_id: str
    student_id: str | None


@dataclass(frozen=True, slots=True)
class StudentCheck:
    problems: list[Problem]
    unmatched: list[Unmatched]


# --- one student -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Student:
    originator_id: UUID
    tenant_id: str | None
    student_id: str | None

    def problem(
        self,
        kind: Kind,
        facts: Sequence[StoredFact],
        detail: str,
        manual: str | None = None,
    ) -> Problem:
        return Problem(
            kind,
            self.originator_id,
            self.tenant_id,
            self.student_id,
            facts[0].event_id if len(facts) == 1 else None,
            tuple(f.version for f in facts[:LISTED]),
            tuple(f.notification_id for f in facts[:LISTED]),
            detail,
            manual=manual,
        )


def check_student(facts: Sequence[StoredFact], orphans: Sequence[IdRow] = ()) -> StudentCheck:
    """The problems of one student's stored events (``facts``, in version order) and of the id
    rows that point at the student but at none of its events. Learning events without their
    own id row are returned to be classified against the store (``classify_unmatched``)."""
    first = facts[0]
    enrolled = first if first.version == 1 and first.kind is FactKind.ENROLLED else None
    student = _Student(
        first.originator_id,
        enrolled.tenant_id if enrolled else None,
        enrolled.student_id if enrolled else None,
    )
    problems: list[Problem] = []
    if enrolled is None:
        problems.append(
            student.problem(
                Kind.BAD_ENROLLMENT,
                [first],
                "version 1 is not the enrolment",
                "the aggregate does not start with its enrolment: restore it from a backup",
            )
        )
    problems.extend(_gaps(student, facts))
    problems.extend(_order(student, facts, enrolled is not None))
    unmatched: list[Unmatched] = []
    for fact in facts:
        problems.extend(_fact_problems(student, fact))
        matched = any(_matches(row, fact, student.tenant_id) for row in fact.id_rows)
        if fact.kind is not FactKind.LEARNING or matched:
            continue
        if student.tenant_id is None:
            problems.append(
                student.problem(
                    Kind.MISSING_ID_ROW,
                    [fact],
                    "no id row",
                    "the student's tenant is unknown (no enrolment)",
                )
            )
        else:
            unmatched.append(Unmatched(fact, student.tenant_id, student.student_id))
    problems.extend(_orphan(row, student.student_id, "no event is stored there") for row in orphans)
    return StudentCheck(problems, unmatched)


def orphan_problems(rows: Iterable[IdRow]) -> list[Problem]:
    """Id rows of an aggregate that has no stored event at all."""
    return [_orphan(row, None, "the aggregate has no stored event") for row in rows]


def _orphan(row: IdRow, student_id: str | None, why: str) -> Problem:
    return Problem(
        Kind.ORPHAN_ID_ROW,
        row.originator_id,
        row.tenant_id,
        student_id,
        row.event_id,
        (row.originator_version,),
        (),
        f"the id row points at version {row.originator_version}: {why}",
        manual="the event the id row stands for is not stored (lost): restore it from a backup",
    )


def _fact_problems(student: _Student, fact: StoredFact) -> list[Problem]:
    if fact.kind is FactKind.UNREADABLE:  # its id rows cannot be verified
        return [
            student.problem(
                Kind.UNREADABLE,
                [fact],
                fact.detail,
                "the stored state cannot be read: restore it from a backup",
            )
        ]
    problems: list[Problem] = []
    if fact.kind is FactKind.ENROLLED and fact.version != 1:
        problems.append(
            student.problem(
                Kind.BAD_ENROLLMENT, [fact], "enrolled again", "a second enrolment: inspect it"
            )
        )
    for row in fact.id_rows:
        if _matches(row, fact, student.tenant_id):
            continue
        carried = f"event_id {fact.event_id!r}" if fact.event_id else _NOT_LEARNING[fact.kind]
        mismatch = student.problem(
            Kind.ID_ROW_MISMATCH,
            [fact],
            f"the id row of {row.tenant_id}/{row.event_id} points at {carried}"
            + ("" if student.tenant_id is None else f" of tenant {student.tenant_id}"),
            "the id row does not describe the event it points at: compare them",
        )
        problems.append(replace(mismatch, tenant_id=row.tenant_id, event_id=row.event_id))
    return problems


_NOT_LEARNING = {FactKind.ENROLLED: "the enrolment", FactKind.OTHER: "a non-learning event"}


def _matches(row: IdRow, fact: StoredFact, tenant_id: str | None) -> bool:
    return (
        fact.kind is FactKind.LEARNING
        and row.event_id == fact.event_id
        and (tenant_id is None or row.tenant_id == tenant_id)
    )


def _gaps(student: _Student, facts: Sequence[StoredFact]) -> list[Problem]:
    last = facts[-1].version
    below_one = sum(1 for f in facts if f.version < 1)
    if not below_one and last == len(facts):
        return []
    missing: list[int] = []
    expected = 1
    for fact in facts:
        while expected < fact.version and len(missing) < LISTED:
            missing.append(expected)
            expected += 1
        expected = max(expected, fact.version + 1)
    holes = last - (len(facts) - below_one)
    detail = f"{holes} version(s) missing up to version {last}" + (
        f"; {below_one} version(s) below 1" if below_one else ""
    )
    gap = student.problem(
        Kind.VERSION_GAP,
        [],
        detail,
        "versions are missing, so the aggregate cannot load: restore them from a backup",
    )
    return [replace(gap, versions=tuple(missing))]


def _order(student: _Student, facts: Sequence[StoredFact], enrolled: bool) -> list[Problem]:
    inverted = [(a, b) for a, b in pairwise(facts) if b.notification_id <= a.notification_id]
    if not inverted:
        return []
    listed = [fact for pair in inverted[: LISTED // 2] for fact in pair]
    first_commit = min(facts, key=lambda f: f.notification_id)
    movable = enrolled and first_commit.version == 1
    below, above = inverted[0]
    more = f" (and {len(inverted) - 1} more such pair(s))" if len(inverted) > 1 else ""
    return [
        student.problem(
            Kind.VERSION_ORDER,
            listed,
            f"version {above.version} was committed (notification {above.notification_id}) "
            f"before version {below.version} (notification {below.notification_id}){more}",
            None
            if movable
            else "the enrolment is not the student's first commit: renumbering would move it",
        )
    ]


# --- across the store --------------------------------------------------------------------------


def classify_unmatched(
    unmatched: Sequence[Unmatched], targets: Mapping[tuple[str, str], Target]
) -> list[Problem]:
    """Learning events without their own id row, given where the id row of each one's
    ``(tenant, event_id)`` points (``targets``; absent when the tenant has no such row)."""
    carriers: defaultdict[tuple[str, str], list[Unmatched]] = defaultdict(list)
    for item in unmatched:
        carriers[(item.tenant_id, event_id_of(item.fact))].append(item)
    return [
        _classify(item, targets.get(key), len(copies))
        for key, copies in carriers.items()
        for item in copies
    ]


def _classify(item: Unmatched, target: Target | None, carriers: int) -> Problem:
    fact = item.fact
    base = Problem(
        Kind.MISSING_ID_ROW,
        fact.originator_id,
        item.tenant_id,
        item.student_id,
        fact.event_id,
        (fact.version,),
        (fact.notification_id,),
        "no id row for this event_id",
    )
    if target is None:
        if carriers == 1:
            return base
        return replace(
            base,
            kind=Kind.DUPLICATE,
            detail=f"stored {carriers} times, none with an id row",
            manual="no copy has the id row: decide which copy to keep",
        )
    if not (
        target.location is not None
        and target.event_id == fact.event_id
        and target.tenant_id == item.tenant_id
    ):
        return replace(
            base,
            detail=(
                f"no id row of its own; the id row of this event_id points at "
                f"{target.row.originator_id} version {target.row.originator_version}, "
                "which does not hold it"
            ),
            manual="the event_id's id row points elsewhere: compare both events",
        )
    where = (
        f"version {target.location.version}"
        if target.location.originator_id == fact.originator_id
        else f"{target.location.originator_id} version {target.location.version}"
    )
    duplicate = replace(base, kind=Kind.DUPLICATE, original=target.location)
    if target.row.content_hash != fact.content_hash:
        return replace(
            duplicate,
            detail=f"{where} has the id row of this event_id, with different content",
            manual="two different events share an event_id: decide which one was accepted",
        )
    return replace(duplicate, detail=f"a second copy of {where}, which has the id row")
