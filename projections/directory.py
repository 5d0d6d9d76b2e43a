"""Who is in a tenant, as a dashboard lists it (SPEC §7): the classes a caller may read with
their counts, and the students a caller may read, filtered and paged.

What a caller may read arrives as a ``Scope`` (the API derives it from the token); every
answer stays within it and within its tenant. Mastery and the at-risk flag are those of the
class roster route (``StudentQueries.roster_entry`` as of today).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from projections.queries import RosterEntry, StudentQueries
from projections.view import StudentKey


@dataclass(frozen=True, slots=True)
class Scope:
    """What one caller may list: the whole tenant (``everyone``), or the students on the
    rosters of ``classes`` and the named ``students``."""

    tenant_id: str
    everyone: bool = False
    classes: frozenset[str] = frozenset()
    students: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ClassSummary:
    class_id: str
    students: int
    mean_mastery: float | None  # of the exposed (rounded) scores; None for an empty class
    at_risk: int


@dataclass(frozen=True, slots=True)
class StudentFilter:
    """``q``: a case-insensitive part of the student id; the others must match exactly."""

    q: str | None = None
    class_id: str | None = None
    level: str | None = None
    at_risk: bool | None = None

    def admits(self, entry: RosterEntry) -> bool:
        return (self.level is None or entry.mastery.level == self.level) and (
            self.at_risk is None or entry.at_risk == self.at_risk
        )


@dataclass(frozen=True, slots=True)
class ListedStudent:
    entry: RosterEntry
    class_ids: list[str]


@dataclass(frozen=True, slots=True)
class StudentPage:
    students: list[ListedStudent] = field(default_factory=list)
    next_after: str | None = None  # the last student id of this page, when more follow


class Directory:
    def __init__(self, queries: StudentQueries) -> None:
        self.queries = queries
        self.view = queries.view

    def classes(self, scope: Scope) -> list[ClassSummary]:
        """The classes in scope, by id: every class of the tenant with a roster, or each
        class named in scope (an empty one with 0 students)."""
        today = self.queries.today()
        class_ids = self.view.class_ids(scope.tenant_id) if scope.everyone else scope.classes
        entries: dict[str, RosterEntry] = {}  # a student on several rosters is read once
        summaries = []
        for class_id in sorted(class_ids):
            members = [s for s, _ in self.view.class_roster(scope.tenant_id, class_id).members]
            if scope.everyone and not members:
                continue  # emptied since the class set was read
            for student_id in members:
                if student_id not in entries:
                    key = StudentKey(scope.tenant_id, student_id)
                    entries[student_id] = self.queries.roster_entry(key, today)
            summaries.append(_summary(class_id, [entries[s] for s in members]))
        return summaries

    def students(
        self, scope: Scope, wanted: StudentFilter, after: str | None, limit: int
    ) -> StudentPage:
        """The students in scope that ``wanted`` admits, by id, the first ``limit`` after the
        id ``after``. Mastery is read only for candidates whose id and class already match,
        and only until the page (and one more, to know whether another page follows) is full."""
        candidates = sorted(self._readable(scope, wanted.class_id))
        start = 0 if after is None else bisect.bisect_right(candidates, after)
        needle = wanted.q.lower() if wanted.q else None
        today = self.queries.today()
        matched: list[RosterEntry] = []
        for student_id in candidates[start:]:
            if needle is not None and needle not in student_id.lower():
                continue
            entry = self.queries.roster_entry(StudentKey(scope.tenant_id, student_id), today)
            if wanted.admits(entry):
                matched.append(entry)
                if len(matched) > limit:
                    break
        page = matched[:limit]
        keys = [StudentKey(scope.tenant_id, entry.student_id) for entry in page]
        classes = self.view.classes_of(keys)
        return StudentPage(
            [ListedStudent(entry, classes[key]) for entry, key in zip(page, keys, strict=True)],
            page[-1].student_id if len(matched) > limit else None,
        )

    def _readable(self, scope: Scope, class_id: str | None) -> set[str]:
        """The ids of the tenant's students in scope (on ``class_id``'s roster, if given)."""
        tenant = scope.tenant_id
        known = {s for s, _ in self.view.tenant_roster(tenant).members}
        if scope.everyone:
            readable = known
        else:
            readable = known & scope.students
            for each in scope.classes:
                readable |= {s for s, _ in self.view.class_roster(tenant, each).members}
        if class_id is not None:
            readable &= {s for s, _ in self.view.class_roster(tenant, class_id).members}
        return readable


def _summary(class_id: str, entries: list[RosterEntry]) -> ClassSummary:
    scores = [entry.score for entry in entries]
    return ClassSummary(
        class_id=class_id,
        students=len(entries),
        mean_mastery=round(sum(scores) / len(scores), 3) if scores else None,
        at_risk=sum(entry.at_risk for entry in entries),
    )
