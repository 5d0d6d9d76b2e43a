"""`mastery store check` against real PostgreSQL: each known corruption is made with raw SQL,
found, and (where safe) repaired, with and without per-student encryption."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from typing import Any
from uuid import UUID

import psycopg
import pytest
from typer.testing import CliRunner, Result

from api.cli.main import app
from domain.mastery import mastery_as_of
from domain.student_mastery import student_aggregate_id
from infrastructure.bootstrap import build
from infrastructure.event_store.keys import MasterKey
from infrastructure.settings import Settings
from tests import store_corruption as corruption
from tests.support import erase, facts_by_student

TENANT = "chk"
AS_OF = date(2026, 3, 31)


def quiz(student: str, n: int) -> dict[str, Any]:
    return {
        "event_id": f"{student}-{n}",
        "timestamp": f"2026-03-{1 + n % 28:02d}T09:00:00Z",
        "tenant_id": TENANT,
        "student_id": student,
        "class_id": "c1",
        "component": "quiz" if n % 2 else "completion",
        "topic": f"topic-{n % 3}",
        "data": (
            {"total_questions": 10, "correct_answers": n % 11}
            if n % 2
            else {"total_exercises": 10, "completed_exercises": n % 11}
        ),
    }


EVENTS = {student: [quiz(student, n) for n in range(6)] for student in ("ann", "bob", "cy")}


@pytest.fixture(params=["plain", "encrypted"])
def store(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """A store of three students with six learning events each (versions 1-7), snapshots
    every 4 versions so that a repair must deal with them."""
    master_key = MasterKey.generate() if request.param == "encrypted" else None
    configured = replace(settings, master_key=master_key, snapshot_interval=4)
    with build(configured) as built:
        built.ingest.ingest([e for events in EVENTS.values() for e in events])
    return configured


def store_check(settings: Settings, *args: str) -> tuple[int, dict[str, Any]]:
    result = invoke(settings, "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def invoke(settings: Settings, *args: str) -> Result:
    env = {"MASTERY_DATABASE_URL": settings.require_database_url(), "COLUMNS": "200"}
    if settings.master_key:
        env["MASTERY_MASTER_KEY"] = settings.master_key
    return CliRunner().invoke(app, ["store", "check", *args], env=env)


def rows(settings: Settings, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(settings.require_database_url()) as conn:
        return conn.execute(sql, params).fetchall()


def execute(settings: Settings, *statements: tuple[str, tuple[object, ...]]) -> None:
    with psycopg.connect(settings.require_database_url()) as conn:
        for sql, params in statements:
            conn.execute(sql, params)


def whole_store(settings: Settings) -> list[list[tuple[Any, ...]]]:
    return [
        rows(settings, f"SELECT * FROM {table} ORDER BY 1, 2")
        for table in ("mastery_events", "mastery_event_ids", "mastery_snapshots")
    ]


def aggregate(student: str) -> UUID:
    return student_aggregate_id(TENANT, student)


def notification_ids(settings: Settings, student: str) -> dict[int, int]:
    return corruption.notification_ids(settings, TENANT, student)


def store_a_second_copy(settings: Settings, student: str, version: int) -> int:
    return corruption.store_a_second_copy(settings, TENANT, student, version)


def swap_notification_ids(settings: Settings, student: str, a: int, b: int) -> None:
    corruption.swap_notification_ids(settings, TENANT, student, a, b)


def assert_student_loads(settings: Settings, student: str, events: list[dict[str, Any]]) -> None:
    """The aggregate loads (snapshot and events), counts each event once and has the mastery
    the pure formula gives for exactly these events."""
    with build(settings) as built:
        loaded = built.application.student(TENANT, student)
        assert loaded.event_count == len(events)
        assert loaded.version == len(events) + 1
        expected = mastery_as_of(facts_by_student(events)[(TENANT, student)], AS_OF)
        assert loaded.mastery(AS_OF) == expected


# --- intact -----------------------------------------------------------------------------------


def test_an_intact_store_passes(store: Settings) -> None:
    code, report = store_check(store)
    assert code == 0
    assert report["intact"] is True
    assert report["problems"] == []
    assert report["counts"] == {
        "students": 3,
        "events": 21,
        "learning_events": 18,
        "id_rows": 18,
        "erased_students_skipped": 0,
        "erased_events_skipped": 0,
    }
    table = invoke(store)
    assert table.exit_code == 0
    assert "intact" in table.stdout


def test_erased_students_are_skipped_not_broken(full_settings: Settings) -> None:
    settings = replace(full_settings, master_key=MasterKey.generate())
    with build(settings) as built:
        built.ingest.ingest([e for events in EVENTS.values() for e in events])
        erase(
            built,
            TENANT,
            "bob",
            requested_by="test",
            reason="test",
        )
    swap_notification_ids(settings, "bob", 2, 3)  # an erased student's log is nobody's concern
    code, report = store_check(settings)
    assert code == 0, report
    assert report["counts"]["students"] == 2
    assert report["counts"]["erased_students_skipped"] == 1
    assert report["counts"]["erased_events_skipped"] == 7


def test_an_encrypted_store_is_not_checked_without_the_master_key(store: Settings) -> None:
    result = invoke(replace(store, master_key=None))
    if store.master_key is None:
        assert result.exit_code == 0
    else:
        assert result.exit_code == 2
        assert "MASTERY_MASTER_KEY" in result.stderr


def test_apply_without_repair_is_bad_usage(store: Settings) -> None:
    result = invoke(store, "--apply")
    assert result.exit_code == 2
    assert "--repair" in result.stderr


# --- a learning event stored twice --------------------------------------------------------------


def test_a_second_copy_without_id_row_is_found_and_removed(store: Settings) -> None:
    copy_version = store_a_second_copy(store, "ann", version=3)  # event ann-1, at version 8
    later = [quiz("ann", n) for n in (6, 7, 8, 9)]
    with build(store) as built:  # a writer goes on: versions 9-12, and a snapshot at 12
        built.ingest.ingest(later)
    assert rows(store, "SELECT max(originator_version) FROM mastery_snapshots "
                "WHERE originator_id = %s", aggregate("ann")) == [(12,)]  # fmt: skip
    copy_notification = notification_ids(store, "ann")[copy_version]

    code, report = store_check(store)
    assert code == 1
    assert report["problems_by_kind"] == {"duplicate": 1}
    (problem,) = report["problems"]
    assert problem == {
        "kind": "duplicate",
        "tenant_id": TENANT,
        "student_id": "ann",
        "originator_id": str(aggregate("ann")),
        "event_id": "ann-1",
        "versions": [copy_version],
        "notification_ids": [copy_notification],
        "detail": "a second copy of version 3, which has the id row",
        "original": {
            "originator_id": str(aggregate("ann")),
            "version": 3,
            "notification_id": notification_ids(store, "ann")[3],
        },
        "repair": f"delete this copy (version {copy_version})",
        "manual": None,
    }

    before = whole_store(store)
    code, dry_run = store_check(store, "--repair")
    assert code == 1
    assert whole_store(store) == before
    (plan,) = dry_run["repairs"]
    assert plan["delete"] == [{"version": 8, "notification_id": copy_notification}]
    assert plan["renumber"] == [{"from": v, "to": v - 1} for v in (9, 10, 11, 12)]

    code, applied = store_check(store, "--repair", "--apply")
    assert code == 0, applied
    assert applied["applied"] == dry_run["repairs"]
    assert applied["after"]["intact"] is True
    assert applied["read_models_rebuilt"] is False
    assert rows(store, "SELECT count(*) FROM mastery_snapshots WHERE originator_id = %s",
                aggregate("ann")) == [(0,)]  # fmt: skip
    assert_student_loads(store, "ann", EVENTS["ann"] + later)
    assert store_check(store)[0] == 0

    with build(store) as built:  # the write path carries on at the right version
        outcomes = built.ingest.ingest([quiz("ann", 1), quiz("ann", 10)]).outcomes
        assert [o.status.value for o in outcomes] == ["duplicate", "recorded"]
    assert_student_loads(store, "ann", [*EVENTS["ann"], *later, quiz("ann", 10)])


def test_two_copies_with_different_content_need_manual_action(store: Settings) -> None:
    copy_version = store_a_second_copy(store, "bob", version=2)
    execute(
        store,
        ("UPDATE mastery_event_ids SET content_hash = '\\x00' WHERE event_id = 'bob-0'", ()),
    )
    before = whole_store(store)
    code, report = store_check(store, "--repair", "--apply")
    assert code == 1
    (problem,) = report["problems"]
    assert problem["kind"] == "duplicate"
    assert problem["versions"] == [copy_version]
    assert problem["repair"] is None
    assert "different" in problem["detail"]
    assert report["applied"] == []
    assert whole_store(store) == before


# --- versions committed out of order ------------------------------------------------------------


def test_versions_committed_out_of_order_are_found_and_renumbered(store: Settings) -> None:
    ids = notification_ids(store, "cy")
    swap_notification_ids(store, "cy", 3, 6)

    code, report = store_check(store)
    assert code == 1
    assert report["problems_by_kind"] == {"version_order": 1}
    (problem,) = report["problems"]
    assert problem["student_id"] == "cy"
    assert problem["versions"] == [3, 4, 5, 6]
    assert problem["notification_ids"] == [ids[6], ids[4], ids[5], ids[3]]
    assert problem["repair"] is not None

    code, applied = store_check(store, "--repair", "--apply")
    assert code == 0, applied
    (repair,) = applied["applied"]
    assert repair["delete"] == []
    assert repair["renumber"] == [{"from": 6, "to": 3}, {"from": 3, "to": 6}]
    assert repair["reordered_by_commit"] is True
    assert applied["after"]["intact"] is True
    # notification ids never change: followers neither re-read nor skip anything
    assert sorted(notification_ids(store, "cy").values()) == sorted(ids.values())
    assert_student_loads(store, "cy", EVENTS["cy"])
    event_ids = dict(
        rows(
            store,
            "SELECT originator_version, event_id FROM mastery_event_ids WHERE originator_id = %s",
            aggregate("cy"),
        )
    )
    assert (event_ids[3], event_ids[6]) == ("cy-4", "cy-1")  # versions follow commit order


def test_an_enrolment_committed_late_needs_manual_action(store: Settings) -> None:
    swap_notification_ids(store, "bob", 1, 4)
    before = whole_store(store)
    code, report = store_check(store, "--repair", "--apply")
    assert code == 1
    (problem,) = report["problems"]
    assert problem["kind"] == "version_order"
    assert problem["repair"] is None
    assert "enrolment" in problem["manual"]
    assert whole_store(store) == before


# --- id rows ------------------------------------------------------------------------------------


def test_a_deleted_id_row_is_found_and_restored(store: Settings) -> None:
    original = rows(store, "SELECT * FROM mastery_event_ids WHERE event_id = 'bob-2'")
    execute(store, ("DELETE FROM mastery_event_ids WHERE event_id = 'bob-2'", ()))
    code, report = store_check(store)
    assert code == 1
    (problem,) = report["problems"]
    assert (problem["kind"], problem["event_id"], problem["versions"]) == (
        "missing_id_row",
        "bob-2",
        [4],
    )
    assert problem["repair"] == "restore the id row from the event"

    code, applied = store_check(store, "--repair", "--apply")
    assert code == 0, applied
    assert applied["after"]["intact"] is True
    assert rows(store, "SELECT * FROM mastery_event_ids WHERE event_id = 'bob-2'") == original
    with build(store) as built:  # idempotency holds again for that event
        assert built.ingest.ingest([quiz("bob", 2)]).outcomes[0].status.value == "duplicate"


def test_an_id_row_pointing_nowhere_is_reported(store: Settings) -> None:
    execute(
        store,
        (
            "INSERT INTO mastery_event_ids VALUES (%s, 'lost-1', '\\x00', %s, 42)",
            (TENANT, aggregate("cy")),
        ),
        (
            "INSERT INTO mastery_event_ids VALUES (%s, 'lost-2', '\\x00', %s, 1)",
            (TENANT, aggregate("nobody")),
        ),
    )
    code, report = store_check(store, "--repair")
    assert code == 1
    assert [
        (p["kind"], p["event_id"], p["student_id"], p["versions"]) for p in report["problems"]
    ] == [
        ("orphan_id_row", "lost-2", None, [1]),
        ("orphan_id_row", "lost-1", "cy", [42]),
    ]
    assert all(p["repair"] is None for p in report["problems"])
    assert report["repairs"] == []


def test_an_id_row_on_the_wrong_event_is_reported(store: Settings) -> None:
    execute(
        store,
        ("UPDATE mastery_event_ids SET originator_version = 3 WHERE event_id = 'ann-2'", ()),
    )
    code, report = store_check(store)
    assert code == 1
    kinds = sorted((p["kind"], p["event_id"], tuple(p["versions"])) for p in report["problems"])
    assert kinds == [("id_row_mismatch", "ann-2", (3,)), ("missing_id_row", "ann-2", (4,))]
    assert all(p["manual"] for p in report["problems"])


def test_a_damaged_state_is_reported_as_unreadable(store: Settings) -> None:
    execute(
        store,
        (
            "UPDATE mastery_events SET state = overlay(state placing '\\xff' from 20) "
            "WHERE originator_id = %s AND originator_version = 5",
            (aggregate("cy"),),
        ),
    )
    code, report = store_check(store, "--repair")
    assert code == 1
    (problem,) = report["problems"]
    assert (problem["kind"], problem["student_id"], problem["versions"]) == (
        "unreadable",
        "cy",
        [5],
    )
    assert problem["detail"].startswith("cannot be read")
    assert report["repairs"] == []
