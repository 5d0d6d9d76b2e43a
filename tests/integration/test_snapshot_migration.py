"""Upgrading past migration 0004 on real PostgreSQL: aggregate snapshots holding the ledger's
state version 1 (no marker-only topics, no topic counts) are deleted, and each student's
aggregate is rebuilt from the events with SPEC §4's topic rule."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from typing import Any

import psycopg
import pytest
from alembic import command
from alembic.script import ScriptDirectory

from domain.mastery import ComponentCounts, mastery_as_of
from infrastructure.bootstrap import build
from infrastructure.migrate import alembic_config, current_revision, upgrade
from infrastructure.settings import Settings
from tests.support import count_rows, facts_by_student

TENANT = "t-migrate"
AS_OF = date(2026, 1, 4)


def learning_event(event_id: str, day: int, component: str, topic: str) -> dict[str, Any]:
    data = {"quiz": {"total_questions": 10, "correct_answers": 7}, "consistency": {}}[component]
    return {
        "event_id": event_id,
        "timestamp": f"2026-01-0{day}T10:00:00Z",
        "tenant_id": TENANT,
        "student_id": "s1",
        "component": component,
        "topic": topic,
        "data": data,
    }


EVENTS = [
    learning_event("q1", 1, "quiz", "sql"),
    learning_event("m1", 2, "consistency", "git"),
    learning_event("q2", 3, "quiz", "sql"),
    learning_event("m2", 4, "consistency", "git"),
]


def as_state_version_1(ledger: dict[str, Any]) -> dict[str, Any]:
    """The ledger state the previous version wrote for the same events."""
    topics = {
        name: {k: v for k, v in topic.items() if k != "counts"}
        for name, topic in ledger["topics"].items()
        if topic["completion"] or topic["quiz"] != [0, 0] or topic["quality"]
    }
    return {**ledger, "version": 1, "topics": topics}


def downgrade_snapshots_to_state_version_1(url: str) -> int:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT originator_id, originator_version, state FROM mastery_snapshots"
        ).fetchall()
        for originator_id, version, state in rows:
            snapshot = json.loads(bytes(state))
            ledger = snapshot["state"]["ledger"]
            ledger["_data_"] = as_state_version_1(ledger["_data_"])
            conn.execute(
                "UPDATE mastery_snapshots SET state = %s"
                " WHERE originator_id = %s AND originator_version = %s",
                (json.dumps(snapshot).encode(), originator_id, version),
            )
    return len(rows)


def test_upgrading_deletes_old_ledger_snapshots_and_students_load_from_their_events(
    settings: Settings,
) -> None:
    url = settings.require_database_url()
    command.downgrade(alembic_config(url), "0003")
    small = replace(settings, snapshot_interval=2)
    with build(small) as built:
        built.ingest.ingest(EVENTS)
    assert downgrade_snapshots_to_state_version_1(url) == 1  # one batch, one snapshot
    with build(small) as fresh, pytest.raises(ValueError, match="version 1"):
        fresh.application.student(TENANT, "s1")

    upgrade(url)

    assert (
        current_revision(url) == ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    )
    assert count_rows(url, "SELECT count(*) FROM mastery_snapshots") == 0
    with build(small) as fresh:
        mastery = fresh.application.student(TENANT, "s1").mastery(AS_OF)
    assert mastery == mastery_as_of(facts_by_student(EVENTS)[(TENANT, "s1")], AS_OF)
    assert mastery.topics["git"].evidence == ComponentCounts(0, 0, 0, 2)
    assert mastery.topics["sql"].evidence == ComponentCounts(0, 2, 0, 0)
