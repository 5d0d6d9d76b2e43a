"""The event store's invariants (SPEC §10) and their safe repairs, as pure functions.

``integrity.py`` streams the store and turns each stored event into a ``StoredFact`` (what the
check needs of it, without its state); the functions here decide what is broken and what can
be repaired without losing or inventing anything:

* every stored learning event has its idempotency row: ``(tenant, event_id)`` of the event
  itself, pointing at the event's ``(originator_id, originator_version)``; every id row points
  at a stored event that carries its ``event_id`` (``missing_id_row``, ``id_row_mismatch``,
  ``orphan_id_row``);
* an accepted ``event_id`` is stored once per tenant (``duplicate``);
* a student's versions run 1, 2, 3... from the enrolment (``version_gap``,
  ``bad_enrollment``) and their notification ids increase with them (``version_order``);
* a stored event of a student who is not erased can be read (``unreadable``).

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

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from itertools import pairwise
from uuid import UUID

LISTED = 20  # versions or rows listed in one problem; the detail gives the full count


class Kind(StrEnum):
    DUPLICATE = "duplicate"
    MISSING_ID_ROW = "missing_id_row"
    ID_ROW_MISMATCH = "id_row_mismatch"
    ORPHAN_ID_ROW = "orphan_id_row"
    VERSION_ORDER = "version_order"
    VERSION_GAP = "version_gap"
    BAD_ENROLLMENT = "bad_enrollment"
    UNREADABLE = "unreadable"


class FactKind(StrEnum):
    ENROLLED = "enrolled"
    LEARNING = "learning"
    OTHER = "other"
    UNREADABLE = "unreadable"


@dataclass(frozen=True, slots=True)
class IdRow:
    tenant_id: str
    event_id: str
    content_hash: str  # hex
    originator_id: UUID
    originator_version: int


@dataclass(frozen=True, slots=True)
class StoredFact:
    """What the check knows of one stored event, its state left behind once decoded."""

    originator_id: UUID
    version: int
    notification_id: int
    kind: FactKind
    event_id: str | None = None  # learning events
    content_hash: str | None = None  # learning events
    tenant_id: str | None = None  # enrolment
    student_id: str | None = None  # enrolment
    detail: str = ""  # why it is unreadable
    id_rows: tuple[IdRow, ...] = ()  # the id rows that point at this event


@dataclass(frozen=True, slots=True)
class Location:
    originator_id: UUID
    version: int
    notification_id: int


@dataclass(frozen=True, slots=True)
class Problem:
    kind: Kind
    originator_id: UUID | None
    tenant_id: str | None
    student_id: str | None
    event_id: str | None
    versions: tuple[int, ...]
    notification_ids: tuple[int, ...]
    detail: str
    original: Location | None = None  # for a duplicate: the copy that has the id row
    manual: str | None = None  # why it needs manual action; None: safe to repair
    repair: str | None = None  # the planned repair (set by ``plan_repairs``)


@dataclass(frozen=True, slots=True)
class Unmatched:
    """A learning event without its own id row, to be classified across the store."""

    fact: StoredFact
    tenant_id: str
    student_id: str | None


@dataclass(frozen=True, slots=True)
class Target:
    """Where the id row of an event_id points, and what is stored there."""

    row: IdRow
    location: Location | None  # None: nothing is stored there
    tenant_id: str | None  # of the aggregate stored there
    event_id: str | None  # the event_id the event stored there carries


@dataclass(frozen=True, slots=True)
class StudentCheck:
    problems: list[Problem]
    unmatched: list[Unmatched]


@dataclass(frozen=True, slots=True)
class StudentRepair:
    originator_id: UUID
    tenant_id: str
    student_id: str
    deletes: tuple[Location, ...]  # duplicate copies
    moves: tuple[tuple[int, int], ...]  # (old version, new version), changed ones only
    restores: tuple[IdRow, ...]  # id rows to insert, at their events' new versions
    reordered: bool  # versions now follow notification order


@dataclass(slots=True)
class Counts:
    students: int = 0
    events: int = 0
    learning_events: int = 0
    id_rows: int = 0
    erased_students: int = 0  # skipped: unreadable by design
    erased_events: int = 0
    erased_id_rows: int = 0


@dataclass(slots=True)
class Report:
    counts: Counts = field(default_factory=Counts)
    problems: list[Problem] = field(default_factory=list)
    repairs: list[StudentRepair] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems

    def by_kind(self) -> dict[str, int]:
        return dict(sorted(Counter(p.kind.value for p in self.problems).items()))

    def broken_students(self) -> list[UUID]:
        return sorted({p.originator_id for p in self.problems if p.originator_id is not None})


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
        carriers[(item.tenant_id, _event_id(item.fact))].append(item)
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


def _event_id(fact: StoredFact) -> str:
    assert fact.event_id is not None
    return fact.event_id


# --- repairs -----------------------------------------------------------------------------------


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
                _event_id(f),
                _content_hash(f),
                f.originator_id,
                renumbered[f.version],
            )
            for f in facts
            if f.version in restored
        ),
        reordered=reordered,
    )


def _content_hash(fact: StoredFact) -> str:
    assert fact.content_hash is not None
    return fact.content_hash


def _describe(found: Problem, repair: StudentRepair) -> str:
    if found.kind is Kind.DUPLICATE:
        return f"delete this copy (version {found.versions[0]})"
    if found.kind is Kind.MISSING_ID_ROW:
        return "restore the id row from the event"
    return f"renumber {len(repair.moves)} version(s) to follow commit order"
