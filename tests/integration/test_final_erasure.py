"""Erasure is final (SPEC §10, decision 28), on real PostgreSQL and Redis: no projector write,
roster write, rebuild or cached key brings an erased student back, in this process or another."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import Tracking

from domain.errors import StudentErasedError
from infrastructure.bootstrap import Container, build
from infrastructure.event_store.keys import MasterKey
from infrastructure.settings import Settings
from projections.view import StudentKey, StudentUpdate
from tests.support import erase

MASTER = MasterKey.generate()
TENANT = "final"
VERA, WILL = "vera", "will"


def event(n: int, student: str, class_id: str = "c1") -> dict[str, Any]:
    return {
        "event_id": f"{student}-{n}",
        "timestamp": f"2026-04-{1 + n % 20:02d}T10:00:00Z",
        "tenant_id": TENANT,
        "student_id": student,
        "class_id": class_id,
        "component": "quiz",
        "topic": "python.loops",
        "data": {"total_questions": 10, "correct_answers": n % 10},
    }


@pytest.fixture
def secret_settings(full_settings: Settings) -> Settings:
    return replace(full_settings, master_key=MASTER)


def held_about(container: Container, student: str) -> list[str]:
    """Every read-model key and roster entry of the student (their tombstone aside)."""
    keys = container.view.keys
    found = [
        name.decode()
        for name in container.redis.scan_iter(match=keys.student_tag(TENANT, student) + "*")
    ]
    rosters = [keys.tenant_roster(TENANT)] + [
        keys.class_roster(TENANT, c) for c in ("c1", "c2", "c3")
    ]
    found += [r for r in rosters if container.redis.zscore(r, student) is not None]
    return found


def test_a_batch_read_before_the_erasure_writes_nothing_after_it(
    secret_settings: Settings,
) -> None:
    with build(secret_settings) as built:
        built.ingest.ingest([event(n, s) for n in range(3) for s in (VERA, WILL)])
        built.projector.catch_up()
        assert held_about(built, VERA)
        # Vera's next batch names a class she was never in before: the erasure cannot have
        # read it from her aggregate, only from what the projector wrote.
        built.ingest.ingest([event(n, VERA, "c2") for n in range(3, 6)] + [event(9, WILL)])
        write = built.view.apply
        erased: list[bool] = []

        def erase_then_write(updates: Sequence[StudentUpdate], tracking: Tracking | None) -> None:
            if not erased and any(u.key.student_id == VERA for u in updates):
                erase(
                    built,
                    TENANT,
                    VERA,
                    requested_by="test",
                    reason="race",
                )
                erased.append(True)
            write(updates, tracking)

        built.view.apply = erase_then_write  # type: ignore[method-assign]
        assert built.projector.process_next_batch() > 0  # read before, written after
        assert erased == [True]
        assert held_about(built, VERA) == []
        assert built.view.is_erased(StudentKey(TENANT, VERA))
        assert built.view.current(StudentKey(TENANT, WILL)) is not None
        assert built.view.class_roster(TENANT, "c1").members[0][0] == WILL


def test_a_roster_write_queued_before_the_erasure_cannot_re_add_the_student(
    secret_settings: Settings,
) -> None:
    """The student's script ran before the erasure, the roster write comes after it."""
    with build(secret_settings) as built:
        built.ingest.ingest([event(n, VERA, "c3") for n in range(3)])
        history_update: list[StudentUpdate] = []
        write = built.view.apply

        def keep(updates: Sequence[StudentUpdate], tracking: Tracking | None) -> None:
            history_update.extend(updates)
            write(updates, tracking)

        built.view.apply = keep  # type: ignore[method-assign]
        built.projector.catch_up()
        built.view.apply = write  # type: ignore[method-assign]
        erase(
            built,
            TENANT,
            VERA,
            requested_by="test",
            reason="race",
        )
        write(history_update, None)  # a late projector repeating its last batch
        assert held_about(built, VERA) == []


def test_another_instance_with_a_warm_key_cache_is_told_at_once(
    secret_settings: Settings,
) -> None:
    with build(secret_settings) as eraser, build(secret_settings) as other:
        other.ingest.ingest([event(n, VERA) for n in range(3)])
        assert len(list(other.application.learning_events(TENANT, VERA))) == 3  # key cached
        erase(
            eraser,
            TENANT,
            VERA,
            requested_by="test",
            reason="told",
        )
        assert eventually(lambda: refuses_to_read(other, VERA), seconds=2.0)
        outcome = other.ingest.ingest([event(7, VERA)])
        assert [o.status.value for o in outcome.outcomes] == ["rejected"]
        assert outcome.outcomes[0].code == "student_erased"


def test_a_key_ring_that_lost_its_listener_still_learns_of_an_erasure(
    secret_settings: Settings,
) -> None:
    with build(secret_settings) as eraser, build(secret_settings) as other:
        other.ingest.ingest([event(n, VERA) for n in range(3)])
        assert len(list(other.application.learning_events(TENANT, VERA))) == 3  # key cached
        with psycopg.connect(secret_settings.require_database_url(), autocommit=True) as conn:
            cut = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN %'"
            ).fetchall()
        assert len(cut) == 1  # the listener of the ring that cached the key
        erase(
            eraser,
            TENANT,
            VERA,
            requested_by="test",
            reason="told late",
        )
        assert eventually(lambda: refuses_to_read(other, VERA), seconds=3.0)


def test_a_rebuild_after_the_erasure_does_not_bring_the_student_back(
    secret_settings: Settings,
) -> None:
    with build(secret_settings) as eraser, build(secret_settings) as other:
        other.ingest.ingest([event(n, s) for n in range(3) for s in (VERA, WILL)])
        other.projector.catch_up()
        assert len(list(other.application.learning_events(TENANT, VERA))) == 3  # key cached
        erase(
            eraser,
            TENANT,
            VERA,
            requested_by="test",
            reason="rebuild",
        )
        other.projector.rebuild()  # at once: before or after it hears of the erasure
        assert held_about(other, VERA) == []
        other.projector.rebuild(tenant_id=TENANT)
        other.projector.rebuild(tenant_id=TENANT, student_id=VERA)
        assert held_about(other, VERA) == []
        assert other.view.is_erased(StudentKey(TENANT, VERA))
        assert other.view.current(StudentKey(TENANT, WILL)) is not None


def refuses_to_read(container: Container, student: str) -> bool:
    try:
        list(container.application.learning_events(TENANT, student))
    except StudentErasedError:
        return True
    return False


def eventually(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def test_a_batch_decoded_before_the_erasure_and_histories_read_after_it_is_passed_over(
    secret_settings: Settings,
) -> None:
    """Found by the chaos soak: the projector raised KeyError and backed off for a student
    whose batch it had decoded while the key existed, then found no readable history."""
    with build(secret_settings) as built:
        built.ingest.ingest([event(n, s) for n in range(3) for s in (VERA, WILL)])
        built.projector.catch_up()
        built.projector._forget()  # histories are read from the store, as after a restart
        built.ingest.ingest([event(n, VERA) for n in range(3, 6)] + [event(9, WILL)])
        histories_for = built.projector._histories_for

        def erase_then_read(*args: Any) -> Any:
            erase(
                built,
                TENANT,
                VERA,
                requested_by="test",
                reason="race",
            )
            return histories_for(*args)

        built.projector._histories_for = erase_then_read  # type: ignore[method-assign]
        assert built.projector.process_next_batch() > 0
        assert held_about(built, VERA) == []
        assert built.view.current(StudentKey(TENANT, WILL)) is not None
        assert built.projector.position() == built.application.head()
