"""What the store check reports: the problems found, the repairs planned, the counts.

``api/cli/store.py`` renders a ``Report`` as the table or the JSON document of
``mastery store check``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from uuid import UUID

from infrastructure.event_store.check_facts import IdRow, Location


class Kind(StrEnum):
    DUPLICATE = "duplicate"
    MISSING_ID_ROW = "missing_id_row"
    ID_ROW_MISMATCH = "id_row_mismatch"
    ORPHAN_ID_ROW = "orphan_id_row"
    VERSION_ORDER = "version_order"
    VERSION_GAP = "version_gap"
    BAD_ENROLLMENT = "bad_enrollment"
    UNREADABLE = "unreadable"


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
