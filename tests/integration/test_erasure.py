"""Per-student encryption and erasure by crypto-shredding, on real PostgreSQL and Redis."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import psycopg
import pytest

from domain.errors import StudentErasedError
from domain.student_mastery import student_aggregate_id
from infrastructure.bootstrap import build
from infrastructure.event_store.keys import MasterKey
from infrastructure.redis_views.keys import Keys
from infrastructure.settings import Settings
from projections.view import StudentKey
from tests.support import Connect, erase

MASTER = MasterKey.generate()


def event(n: int, student: str, *, tenant: str = "gdpr", component: str = "quiz") -> dict[str, Any]:
    data: dict[str, Any] = (
        {"total_questions": 10, "correct_answers": n % 10}
        if component == "quiz"
        else {"total_exercises": 10, "completed_exercises": n % 10}
    )
    return {
        "event_id": f"{student}-{n}",
        "timestamp": f"2026-04-{1 + n % 20:02d}T10:00:00Z",
        "tenant_id": tenant,
        "student_id": student,
        "class_id": f"class-of-{student}",
        "component": component,
        "topic": f"topic-of-{student}",
        "data": data,
        "metadata": {"note": f"private-note-of-{student}"},
    }


def raw_states(settings: Settings, tenant: str, student: str) -> list[bytes]:
    with psycopg.connect(settings.require_database_url()) as conn:
        rows = conn.execute(
            "SELECT state FROM mastery_events WHERE originator_id = %s ORDER BY originator_version",
            (student_aggregate_id(tenant, student),),
        ).fetchall()
    return [bytes(row[0]) for row in rows]


def personal(student: str) -> list[bytes]:
    return [
        s.encode()
        for s in (
            student,
            f"class-of-{student}",
            f"topic-of-{student}",
            f"private-note-of-{student}",
        )
    ]


@pytest.fixture
def secret_settings(full_settings: Settings) -> Settings:
    return replace(full_settings, master_key=MASTER)


def test_stored_events_hold_no_readable_personal_field(secret_settings: Settings) -> None:
    with build(secret_settings) as built:
        built.ingest.ingest([event(n, "ann") for n in range(5)])
        assert next(e.metadata for e in built.application.learning_events("gdpr", "ann")) == {
            "note": "private-note-of-ann"
        }
    states = raw_states(secret_settings, "gdpr", "ann")
    assert len(states) == 6  # enrolment + 5
    assert not any(field in state for state in states for field in personal("ann"))


def test_erasure_shreds_one_student_and_leaves_the_others(
    secret_settings: Settings, redis_connect: Connect
) -> None:
    with build(secret_settings) as built:
        built.ingest.ingest([event(n, s) for s in ("eve", "bob") for n in range(8)])
        built.projector.catch_up()
        bob = StudentKey("gdpr", "bob")
        bob_before = (built.view.current(bob), built.view.class_roster("gdpr", "class-of-bob"))
        positions_before = raw_states(secret_settings, "gdpr", "eve")

        erasure = erase(
            built,
            "gdpr",
            "eve",
            requested_by="admin-1",
            reason="subject request",
        )
        assert erasure.erased_now and erasure.events_kept == 9

        states = raw_states(secret_settings, "gdpr", "eve")
        assert len(states) == len(positions_before)  # the log keeps every event
        assert not any(field in state for state in states for field in personal("eve"))
        with pytest.raises(StudentErasedError):
            list(built.application.learning_events("gdpr", "eve"))

        client = redis_connect(secret_settings)
        keys = Keys(secret_settings.redis_prefix)
        assert list(client.scan_iter(match=f"{keys.student_tag('gdpr', 'eve')}*")) == []
        assert client.zscore(keys.tenant_roster("gdpr"), "eve") is None
        assert client.zscore(keys.class_roster("gdpr", "class-of-eve"), "eve") is None

        again = erase(
            built,
            "gdpr",
            "eve",
            requested_by="admin-1",
            reason="again",
        )
        assert not again.erased_now

        report = built.ingest.ingest([event(99, "eve")])
        assert report.outcomes[0].status.value == "rejected"
        assert report.outcomes[0].code == "student_erased"

        built.projector.rebuild()
        assert built.view.current(StudentKey("gdpr", "eve")) is None
        assert (
            built.view.current(bob),
            built.view.class_roster("gdpr", "class-of-bob"),
        ) == bob_before
    with psycopg.connect(secret_settings.require_database_url()) as conn:
        register = conn.execute("SELECT tenant_id, requested_by, reason FROM erasures").fetchall()
    assert register == [("gdpr", "admin-1", "subject request")]


def test_a_store_written_before_encryption_stays_readable_and_erasable(
    full_settings: Settings,
) -> None:
    with build(full_settings) as plain:  # no master key: legacy plaintext events
        plain.ingest.ingest([event(n, "lee") for n in range(3)])
    assert any(b"topic-of-lee" in state for state in raw_states(full_settings, "gdpr", "lee"))
    secret = replace(full_settings, master_key=MASTER)
    with build(secret) as built:
        built.ingest.ingest([event(n, "lee") for n in range(3, 6)])
        assert len(list(built.application.learning_events("gdpr", "lee"))) == 6  # mixed store
        erase(
            built,
            "gdpr",
            "lee",
            requested_by="admin",
            reason="subject request",
        )
        with pytest.raises(StudentErasedError):
            list(built.application.learning_events("gdpr", "lee"))
    assert not any(
        field in state
        for state in raw_states(full_settings, "gdpr", "lee")
        for field in personal("lee")
    )


def test_rotating_the_master_key_rewrites_no_event(secret_settings: Settings) -> None:
    with build(secret_settings) as built:
        built.ingest.ingest([event(n, "rio") for n in range(4)])
    before = raw_states(secret_settings, "gdpr", "rio")
    new_master = MasterKey.generate()
    rotating = replace(secret_settings, master_key=new_master, previous_master_keys=(MASTER,))
    with build(rotating) as built:
        assert built.application.keyring is not None
        assert built.application.keyring.rotate() == 1
    assert raw_states(secret_settings, "gdpr", "rio") == before
    with build(replace(secret_settings, master_key=new_master)) as built:  # old key retired
        assert len(list(built.application.learning_events("gdpr", "rio"))) == 4


def test_an_erased_student_gets_no_new_events_even_without_the_master_key(
    secret_settings: Settings,
) -> None:
    with build(secret_settings) as built:
        built.ingest.ingest([event(1, "una")])
        erase(
            built,
            "gdpr",
            "una",
            requested_by="dpo",
            reason="subject request",
        )
    with build(replace(secret_settings, master_key=None)) as keyless:
        outcome = keyless.ingest.ingest([event(2, "una")]).outcomes[0]
    assert (outcome.status.value, outcome.code) == ("rejected", "student_erased")
