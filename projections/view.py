"""The mastery read models as a view port (SPEC §5).

A ``MasteryView`` stores, per student, the current-mastery document, one snapshot document per
activity date, the student's projected position, activity dates and classes; per class and
tenant a roster scored by current mastery; and per tenant the set of its classes. Writes come
as ``StudentUpdate`` batches with the position they reflect; the view applies each student's
update atomically with that student's position and ignores an update it has already applied,
so re-delivering events changes nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from eventsourcing.persistence import Tracking, TrackingRecorder

PROJECTION_NAME = "mastery"


@dataclass(frozen=True, slots=True, order=True)
class StudentKey:
    tenant_id: str
    student_id: str


@dataclass(frozen=True, slots=True)
class StudentUpdate:
    """Everything one student's read models become after the events up to ``position``."""

    key: StudentKey
    position: int
    current: dict[str, Any]  # the current-mastery document
    snapshots: dict[date, dict[str, Any]]  # snapshot documents to (re)write, by date
    activity_dates: tuple[date, ...]  # every date with activity, ascending
    classes: tuple[str, ...]
    score: float  # roster score: the current mastery, rounded as exposed


@dataclass(frozen=True, slots=True)
class Roster:
    members: list[tuple[str, float]] = field(default_factory=list)  # (student_id, score)


class MasteryView(TrackingRecorder, ABC):
    # --- writing ---------------------------------------------------------------------------

    @abstractmethod
    def projected_positions(self, keys: Sequence[StudentKey]) -> dict[StudentKey, int]:
        """The position each student's documents reflect (0 when it has none)."""

    @abstractmethod
    def apply(self, updates: Sequence[StudentUpdate], tracking: Tracking | None) -> None:
        """Apply the updates, each atomically with its student's position, then record
        ``tracking`` (the projector's own position), if given. An update whose position is
        not above the student's recorded one changes nothing but the rosters, which are set
        (never incremented) so that repeating them is harmless. An update of an erased student
        (``erase_student``) changes nothing at all, rosters included."""

    @abstractmethod
    def drop_student(self, key: StudentKey, classes: Sequence[str]) -> None:
        """Remove every document and roster entry of the student."""

    @abstractmethod
    def erase_student(self, key: StudentKey, classes: Sequence[str]) -> None:
        """Remove the student for good: leave a tombstone that every later update of theirs
        is refused by, atomically with each write, then remove their documents and their
        entries in the tenant roster, the given classes' rosters and the rosters of every
        class their documents name. Kept by ``drop_all`` and ``drop_student``."""

    @abstractmethod
    def is_erased(self, key: StudentKey) -> bool: ...

    @abstractmethod
    def drop_all(self, tenant_id: str | None = None) -> None:
        """Remove every read model (of one tenant, if given), positions included."""

    # --- reading ---------------------------------------------------------------------------

    @abstractmethod
    def current(self, key: StudentKey) -> dict[str, Any] | None: ...

    @abstractmethod
    def snapshots(self, key: StudentKey, dates: Sequence[date]) -> dict[date, dict[str, Any]]:
        """The snapshot documents that exist (and have not expired) for the given dates."""

    @abstractmethod
    def activity_dates(self, key: StudentKey) -> list[date]: ...

    @abstractmethod
    def class_roster(self, tenant_id: str, class_id: str) -> Roster: ...

    @abstractmethod
    def tenant_roster(self, tenant_id: str) -> Roster: ...

    @abstractmethod
    def class_ids(self, tenant_id: str) -> list[str]:
        """The tenant's classes with a roster, sorted: kept beside the rosters as they are
        written, so listing them never scans keys. It may name a class whose roster has just
        emptied (a reader skips it); read models written before it existed need a rebuild."""

    @abstractmethod
    def classes_of(self, keys: Sequence[StudentKey]) -> dict[StudentKey, list[str]]:
        """Each student's classes as their documents name them, sorted ([] when none)."""
