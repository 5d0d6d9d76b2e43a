"""Helpers shared by tests: event files and the pure formula's view of them."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from domain.facts import LearningFact, evidence_from_data
from infrastructure.ingest.contract import validate_event


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
