"""Where a student's read models differ from what the events say (``mastery replay --check``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from domain.mastery.formulas import DEFAULT_FORMULA, Formula
from domain.student_mastery import StudentMastery
from projections.mastery_projection import StudentHistory, student_update
from projections.view import StudentKey, StudentUpdate

IGNORED = frozenset({"position"})  # positions are the store's bookkeeping, not the replay's


@dataclass(frozen=True, slots=True)
class Difference:
    document: str  # "current" or a snapshot date
    field: str
    expected: Any
    actual: Any


def expected_update(
    key: StudentKey,
    recorded: Iterable[StudentMastery.LearningEventRecorded],
    formula: Formula = DEFAULT_FORMULA,
) -> StudentUpdate:
    """The documents a replay of all the student's events gives under ``formula``: what the
    read models of a generation built by that formula should hold."""
    history = StudentHistory(key, formula)
    for event in recorded:
        history.add(event.fact, event.class_id, 0)
    return student_update(history)


def differences(
    expected: StudentUpdate,
    current: Mapping[str, Any] | None,
    snapshots: Mapping[date, Mapping[str, Any]],
    kept_since: date | None = None,
) -> list[Difference]:
    """Compare the replayed ``expected`` documents with the stored ones. Snapshots dated before
    ``kept_since`` (past their TTL) are not expected to exist."""
    found = _compare("current", expected.current, current)
    for day, document in sorted(expected.snapshots.items()):
        if kept_since is not None and day < kept_since:
            continue
        found += _compare(day.isoformat(), document, snapshots.get(day))
    return found


def _compare(
    name: str, expected: Mapping[str, Any], actual: Mapping[str, Any] | None
) -> list[Difference]:
    if actual is None:
        return [Difference(name, "(document)", "present", "missing")]
    return [
        Difference(name, path, want, got)
        for path, want, got in _walk("", expected, actual)
        if path.split(".")[0] not in IGNORED
    ]


def _walk(prefix: str, expected: Any, actual: Any) -> list[tuple[str, Any, Any]]:
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        found = []
        for key in sorted(set(expected) | set(actual)):
            path = f"{prefix}.{key}" if prefix else str(key)
            found += _walk(path, expected.get(key), actual.get(key))
        return found
    return [] if expected == actual else [(prefix, expected, actual)]
