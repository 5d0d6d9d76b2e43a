"""Helpers shared by tests: event files and the pure formula's view of them."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from domain.facts import LearningFact, evidence_from_data
from infrastructure.bootstrap import Container
from infrastructure.compliance.erasure import Erasure, erase_student
from infrastructure.ingest.contract import validate_event
from infrastructure.redis_views.commands import RedisClient
from infrastructure.settings import Settings

Connect = Callable[[Settings], RedisClient]  # the ``redis_connect`` fixture (tests/conftest.py)


def write_jsonl(path: Path, events: Iterable[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for event in events:
            out.write(json.dumps(event) + "\n")
    return path


def facts_by_student(events: Iterable[dict[str, Any]]) -> dict[tuple[str, str], list[LearningFact]]:
    """What the pure formula sees: each valid input event as a fact, grouped by student."""
    now = datetime.now(UTC)
    grouped: dict[tuple[str, str], list[LearningFact]] = defaultdict(list)
    for raw in events:
        event = validate_event(raw, now)
        fact = LearningFact(
            event.event_id,
            event.occurred_at,
            event.topic,
            evidence_from_data(event.component, event.data),
        )
        grouped[(event.tenant_id, event.student_id)].append(fact)
    return grouped


def count_rows(database_url: str, sql: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def learning_event_rows(database_url: str) -> int:
    return count_rows(
        database_url, "SELECT count(*) FROM mastery_events WHERE topic NOT LIKE '%Enrolled'"
    )


def store_violations(database_url: str, application: Any) -> list[str]:
    """The event store's invariants (SPEC §10), checked independently of the product's own
    ``store check``: every stored learning event has its idempotency row and vice versa, each
    (tenant, event_id) is stored once, and each student's versions are contiguous from 1 and
    committed in version order. ``application`` decodes the stored events (it may encrypt)."""
    problems: list[str] = []
    with psycopg.connect(database_url) as conn:
        out_of_order = conn.execute(
            "SELECT count(*) FROM (SELECT notification_id, lag(notification_id) OVER "
            "(PARTITION BY originator_id ORDER BY originator_version) AS previous "
            "FROM mastery_events) AS t WHERE previous > notification_id"
        ).fetchone()
        gaps = conn.execute(
            "SELECT originator_id FROM mastery_events GROUP BY originator_id "
            "HAVING max(originator_version) <> count(*) OR min(originator_version) <> 1"
        ).fetchall()
        originators = [
            row[0] for row in conn.execute("SELECT DISTINCT originator_id FROM mastery_events")
        ]
        rows = conn.execute(
            "SELECT tenant_id, event_id, originator_id, originator_version FROM mastery_event_ids"
        ).fetchall()
    assert out_of_order is not None
    if out_of_order[0]:
        problems.append(f"{out_of_order[0]} versions committed out of version order")
    problems.extend(f"versions of {originator} are not contiguous from 1" for (originator,) in gaps)
    ledger = {(row[2], row[3]): (row[0], row[1]) for row in rows}
    stored: dict[tuple[Any, int], tuple[str | None, str]] = {}
    for originator in originators:
        tenant = None
        for domain_event in application.events.get(originator):
            tenant = getattr(domain_event, "tenant_id", tenant)
            event_id = getattr(domain_event, "event_id", None)
            if event_id is not None:
                stored[(originator, domain_event.originator_version)] = (tenant, event_id)
    for place, key in stored.items():
        if ledger.get(place) != key:
            problems.append(f"stored event {key} at {place} has no matching idempotency row")
    problems.extend(
        f"idempotency row {key} points at {place}, which holds no such event"
        for place, key in ledger.items()
        if stored.get(place) != key
    )
    counts: dict[tuple[str | None, str], int] = defaultdict(int)
    for key in stored.values():
        counts[key] += 1
    problems.extend(f"{key} is stored {n} times" for key, n in counts.items() if n > 1)
    return problems


def at_once(count: int, work: Callable[[int], None]) -> None:
    """Run ``work(0)`` … ``work(count - 1)`` in threads released together; re-raise the first
    failure of any of them."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run(number: int) -> None:
        try:
            barrier.wait()
            work(number)
        except BaseException as exc:  # re-raised below, in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def erase(built: Container, tenant_id: str, student_id: str, **why: str) -> Erasure:
    """``erase_student`` with the event store, the read models and the database of ``built``."""
    return erase_student(
        built.application,
        built.view,
        built.settings.require_database_url(),
        tenant_id,
        student_id,
        **why,
        generations=built.generation_views,
    )
