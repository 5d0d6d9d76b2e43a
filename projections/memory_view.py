"""An in-memory ``MasteryView``: the reference the Redis view is contract-tested against."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import date
from threading import Lock
from typing import Any

from eventsourcing.persistence import Tracking

from projections.view import MasteryView, Roster, StudentKey, StudentUpdate


class InMemoryMasteryView(MasteryView):
    def __init__(self) -> None:
        self._lock = Lock()
        self._positions: dict[StudentKey, int] = {}
        self._current: dict[StudentKey, dict[str, Any]] = {}
        self._snapshots: dict[StudentKey, dict[date, dict[str, Any]]] = {}
        self._dates: dict[StudentKey, list[date]] = {}
        self._classes: dict[StudentKey, list[str]] = {}
        self._rosters: dict[tuple[str, str | None], dict[str, float]] = {}
        self._tracking: dict[str, int] = {}
        self._erased: set[StudentKey] = set()

    def insert_tracking(self, tracking: Tracking) -> None:
        with self._lock:
            name = tracking.application_name
            self._tracking[name] = max(self._tracking.get(name, 0), tracking.notification_id)

    def max_tracking_id(self, application_name: str) -> int | None:
        return self._tracking.get(application_name)

    def projected_positions(self, keys: Sequence[StudentKey]) -> dict[StudentKey, int]:
        return {key: self._positions.get(key, 0) for key in keys}

    def apply(self, updates: Sequence[StudentUpdate], tracking: Tracking | None) -> None:
        with self._lock:
            for update in updates:
                key = update.key
                if key in self._erased:
                    continue
                if self._positions.get(key, 0) < update.position:
                    self._current[key] = copy.deepcopy(update.current)
                    self._snapshots.setdefault(key, {}).update(copy.deepcopy(update.snapshots))
                    self._dates[key] = list(update.activity_dates)
                    self._classes[key] = sorted(update.classes)
                    self._positions[key] = update.position
                self._roster(key.tenant_id, None)[key.student_id] = update.score
                for class_id in update.classes:
                    self._roster(key.tenant_id, class_id)[key.student_id] = update.score
        if tracking is not None:
            self.insert_tracking(tracking)

    def _roster(self, tenant_id: str, class_id: str | None) -> dict[str, float]:
        return self._rosters.setdefault((tenant_id, class_id), {})

    def drop_student(self, key: StudentKey, classes: Sequence[str]) -> None:
        with self._lock:
            self._drop(key)

    def _drop(self, key: StudentKey) -> None:
        for store in self._per_student():
            store.pop(key, None)
        for (tenant, _), members in self._rosters.items():
            if tenant == key.tenant_id:
                members.pop(key.student_id, None)

    def erase_student(self, key: StudentKey, classes: Sequence[str]) -> None:
        with self._lock:
            self._erased.add(key)
            self._drop(key)

    def is_erased(self, key: StudentKey) -> bool:
        return key in self._erased

    def drop_all(self, tenant_id: str | None = None) -> None:
        with self._lock:
            for store in self._per_student():
                for key in [k for k in store if tenant_id in (None, k.tenant_id)]:
                    del store[key]
            for roster in [r for r in self._rosters if tenant_id in (None, r[0])]:
                del self._rosters[roster]
            if tenant_id is None:
                self._tracking.clear()

    def _per_student(self) -> tuple[dict[StudentKey, Any], ...]:
        return (self._positions, self._current, self._snapshots, self._dates, self._classes)

    def current(self, key: StudentKey) -> dict[str, Any] | None:
        return copy.deepcopy(self._current.get(key))

    def snapshots(self, key: StudentKey, dates: Sequence[date]) -> dict[date, dict[str, Any]]:
        stored = self._snapshots.get(key, {})
        return {day: copy.deepcopy(stored[day]) for day in dates if day in stored}

    def activity_dates(self, key: StudentKey) -> list[date]:
        return list(self._dates.get(key, []))

    def class_roster(self, tenant_id: str, class_id: str) -> Roster:
        return _ordered(self._rosters.get((tenant_id, class_id), {}))

    def tenant_roster(self, tenant_id: str) -> Roster:
        return _ordered(self._rosters.get((tenant_id, None), {}))

    def class_ids(self, tenant_id: str) -> list[str]:
        with self._lock:
            return sorted(
                class_id
                for (tenant, class_id), members in self._rosters.items()
                if tenant == tenant_id and class_id is not None and members
            )

    def classes_of(self, keys: Sequence[StudentKey]) -> dict[StudentKey, list[str]]:
        return {key: list(self._classes.get(key, [])) for key in keys}


def _ordered(members: dict[str, float]) -> Roster:
    return Roster(sorted(members.items(), key=lambda item: (item[1], item[0])))
