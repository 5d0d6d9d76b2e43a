"""The event store corruptions `mastery store check` must find, made as they happened."""

from __future__ import annotations

from typing import Any

import psycopg
from eventsourcing.persistence import StoredEvent

from domain.student_mastery import student_aggregate_id
from infrastructure.bootstrap import build
from infrastructure.settings import Settings


def store_a_second_copy(settings: Settings, tenant: str, student: str, version: int) -> int:
    """What the write path did before it was fixed: the event at ``version`` stored again at
    the student's next version (through the application's mapper, so encrypted for that
    version when a master key is set) without an id row. Returns the copy's version."""
    originator = student_aggregate_id(tenant, student)
    with psycopg.connect(settings.require_database_url()) as conn:
        row = conn.execute(
            "SELECT topic, state, (SELECT max(originator_version) FROM mastery_events "
            "WHERE originator_id = %s) FROM mastery_events "
            "WHERE originator_id = %s AND originator_version = %s",
            (originator, originator, version),
        ).fetchone()
        assert row is not None
        topic, state, last = row
        with build(settings) as built:
            mapper = built.application.mapper
            event = mapper.to_domain_event(StoredEvent(originator, version, topic, state))
            copy = object.__new__(type(event))
            object.__setattr__(copy, "__dict__", {**vars(event), "originator_version": last + 1})
            stored = mapper.to_stored_event(copy)
        conn.execute(
            "INSERT INTO mastery_events (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s)",
            (stored.originator_id, stored.originator_version, stored.topic, stored.state),
        )
    return int(last) + 1


def notification_ids(settings: Settings, tenant: str, student: str) -> dict[int, int]:
    """Version -> notification id of the student's stored events."""
    with psycopg.connect(settings.require_database_url()) as conn:
        rows: list[Any] = conn.execute(
            "SELECT originator_version, notification_id FROM mastery_events "
            "WHERE originator_id = %s",
            (student_aggregate_id(tenant, student),),
        ).fetchall()
    return dict(rows)


def swap_notification_ids(settings: Settings, tenant: str, student: str, a: int, b: int) -> None:
    """Versions ``a`` and ``b`` of the student as if committed in each other's place."""
    ids = notification_ids(settings, tenant, student)
    originator = student_aggregate_id(tenant, student)
    update = (
        "UPDATE mastery_events SET notification_id = %s "
        "WHERE originator_id = %s AND originator_version = %s"
    )
    with psycopg.connect(settings.require_database_url()) as conn:
        conn.execute(update, (-ids[a], originator, a))
        conn.execute(update, (ids[a], originator, b))
        conn.execute(update, (ids[b], originator, a))
