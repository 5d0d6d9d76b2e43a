"""The write path under failure: an exception anywhere costs only the events it touched, and
the store's invariants hold afterwards (real PostgreSQL, faults injected where they happen)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError

from domain.student_mastery import StudentMastery
from infrastructure.bootstrap import Container, build
from infrastructure.event_store.application import MasteryApplication
from infrastructure.event_store.keys import MasterKey
from infrastructure.event_store.recorder import IdempotentApplicationRecorder
from infrastructure.settings import Settings
from tests.support import at_once, count_rows, erase, learning_event_rows, store_violations

TENANT = "t-integrity"


def quiz(event_id: str, student: str = "a", day: int = 1, correct: int = 7) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "timestamp": f"2026-03-{day:02d}T09:00:00Z",
        "tenant_id": TENANT,
        "student_id": student,
        "component": "quiz",
        "topic": "algebra",
        "data": {"total_questions": 10, "correct_answers": correct},
    }


@pytest.fixture
def built(settings: Settings) -> Iterator[Container]:
    with build(settings) as container:
        yield container


@pytest.fixture
def refuse(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Event ids the aggregate raises on, half-way through applying them."""
    refused: set[str] = set()
    take_in = StudentMastery.take_in

    def failing_take_in(self: StudentMastery, recorded: Any) -> None:
        self.event_count += 1  # the state is half-changed when the failure strikes
        if recorded.event_id in refused:
            raise RuntimeError(f"injected failure applying {recorded.event_id}")
        self.event_count -= 1
        take_in(self, recorded)

    monkeypatch.setattr(StudentMastery, "take_in", failing_take_in)
    return refused


def statuses(built: Container, events: list[dict[str, Any]]) -> list[str]:
    return [o.status.value for o in built.ingest.ingest(events).outcomes]


def test_an_event_the_aggregate_refuses_costs_only_itself(
    built: Container, settings: Settings, refuse: set[str]
) -> None:
    refuse.add("boom")
    assert statuses(built, [quiz("a-0")]) == ["recorded"]  # a is now cached
    report = built.ingest.ingest([quiz("a-1"), quiz("boom", student="b"), quiz("b-1", "b")])
    assert [o.status.value for o in report.outcomes] == ["recorded", "rejected", "recorded"]
    assert report.outcomes[1].code == "processing_failed"
    assert statuses(built, [quiz("a-2")]) == ["recorded"]
    assert statuses(built, [quiz("a-1"), quiz("a-1", correct=1)]) == ["duplicate", "conflict"]
    refuse.clear()
    assert statuses(built, [quiz("boom", student="b")]) == ["recorded"]
    assert learning_event_rows(settings.require_database_url()) == 5
    assert store_violations(settings.require_database_url(), built.application) == []
    assert built.application.student(TENANT, "a").event_count == 3
    assert built.application.student(TENANT, "b").event_count == 2


def test_a_refused_first_event_of_a_new_student_leaves_no_enrolment(
    built: Container, settings: Settings, refuse: set[str]
) -> None:
    refuse.add("boom")
    assert statuses(built, [quiz("boom", student="new")]) == ["rejected"]
    assert count_rows(settings.require_database_url(), "SELECT count(*) FROM mastery_events") == 0
    refuse.clear()
    assert statuses(built, [quiz("n-1", student="new")]) == ["recorded"]
    assert built.application.student(TENANT, "new").version == 2
    assert store_violations(settings.require_database_url(), built.application) == []


def test_a_write_that_fails_before_commit_leaves_nothing_cached(
    built: Container, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert statuses(built, [quiz("a-0")]) == ["recorded"]
    insert = IdempotentApplicationRecorder.insert_events
    calls = 0

    def dropped(self: IdempotentApplicationRecorder, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OperationalError("injected: connection dropped before commit")
        return insert(self, *args, **kwargs)

    monkeypatch.setattr(IdempotentApplicationRecorder, "insert_events", dropped)
    with pytest.raises(OperationalError):
        built.ingest.ingest([quiz("a-1"), quiz("b-1", "b")])
    assert statuses(built, [quiz("a-2")]) == ["recorded"]
    assert statuses(built, [quiz("a-1"), quiz("b-1", "b")]) == ["recorded", "recorded"]
    assert learning_event_rows(settings.require_database_url()) == 4
    assert store_violations(settings.require_database_url(), built.application) == []


def test_a_write_whose_commit_answer_is_lost_is_answered_recorded_once(
    built: Container, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    insert = IdempotentApplicationRecorder.insert_events
    calls = 0

    def lost(self: IdempotentApplicationRecorder, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        result = insert(self, *args, **kwargs)
        if calls == 1:
            raise OperationalError("injected: connection dropped after commit")
        return result

    monkeypatch.setattr(IdempotentApplicationRecorder, "insert_events", lost)
    report = built.ingest.ingest([quiz("a-1"), quiz("b-1", "b"), quiz("a-1")])
    assert [o.status.value for o in report.outcomes] == ["recorded", "recorded", "duplicate"]
    assert report.position is not None
    assert statuses(built, [quiz("a-1"), quiz("a-2")]) == ["duplicate", "recorded"]
    assert learning_event_rows(settings.require_database_url()) == 3
    assert store_violations(settings.require_database_url(), built.application) == []


def test_a_failed_snapshot_does_not_fail_a_committed_write(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with build(replace(settings, snapshot_interval=2)) as built:

        def broken(*_: Any, **__: Any) -> None:
            raise OperationalError("injected: snapshot insert failed")

        assert built.application.snapshots is not None
        monkeypatch.setattr(built.application.snapshots, "put", broken)
        assert statuses(built, [quiz("a-1"), quiz("a-2"), quiz("a-3")]) == ["recorded"] * 3
        assert statuses(built, [quiz("a-1")]) == ["duplicate"]
        assert store_violations(settings.require_database_url(), built.application) == []


def test_threads_sharing_one_application_commit_each_student_in_version_order(
    built: Container, settings: Settings
) -> None:
    clients, batches, size, students = 3, 40, 20, 5
    answers: list[str] = []

    def client(number: int) -> None:
        for batch in range(batches):
            events = [
                quiz(f"c{number}-{batch}-{i}", student=f"s{i % students}", day=1 + i)
                for i in range(size)
            ]
            answers.extend(statuses(built, events))

    at_once(clients, client)
    assert answers == ["recorded"] * clients * batches * size
    assert learning_event_rows(settings.require_database_url()) == clients * batches * size
    assert store_violations(settings.require_database_url(), built.application) == []


def test_a_student_erased_between_the_check_and_the_write_costs_only_their_events(
    full_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = replace(full_settings, master_key=MasterKey.generate())
    with build(settings) as built:
        assert statuses(built, [quiz("v-0", "v"), quiz("w-0", "w")]) == ["recorded"] * 2
        check = MasteryApplication._without_erased
        erased: list[str] = []

        def erase_right_after_the_check(self: MasteryApplication, *args: Any) -> Any:
            fresh = check(self, *args)
            if not erased:
                erased.append("v")
                erase(
                    built,
                    TENANT,
                    "v",
                    requested_by="test",
                    reason="race",
                )
            return fresh

        monkeypatch.setattr(MasteryApplication, "_without_erased", erase_right_after_the_check)
        report = built.ingest.ingest([quiz("v-1", "v"), quiz("w-1", "w")])
        assert [(o.status.value, o.code) for o in report.outcomes] == [
            ("rejected", "student_erased"),
            ("recorded", None),
        ]
        assert built.application.student(TENANT, "w").event_count == 2
