"""xAPI statements on ``mastery.requests`` against a real broker and PostgreSQL, beside learning
events on the same topic: a statement already replayed by backfill is a duplicate, a changed
one a conflict in the DLQ, a voiding statement ignored (committed, not dead-lettered), an
invalid one in the DLQ with its reasons."""

from __future__ import annotations

import base64
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from infrastructure.bootstrap import build
from infrastructure.ingest.backfill import backfill_file
from infrastructure.kafka.workers import run_consumer
from infrastructure.settings import Settings
from infrastructure.xapi.translate import Translator, stored_times
from tests.integration.kafka.support import (
    encoded,
    fully_committed,
    produce,
    read_topic,
    running,
    wait_for,
)
from tests.support import count_rows
from tests.xapi_statements import fixture, statement

TENANT = "kx"
XAPI = [("content-type", b"application/xapi+json"), ("mastery-tenant", TENANT.encode())]


def messages(statements: list[Any]) -> list[tuple[bytes | None, bytes | None]]:
    return [(b"kx", orjson.dumps(s)) for s in statements]


def test_statements_share_the_topic_and_the_write_path(kafka: Settings, tmp_path: Path) -> None:
    replayed = [statement(f"s{i}", "experienced") for i in range(5)]
    export = tmp_path / "export.json"
    export.write_bytes(orjson.dumps(replayed))
    with build(kafka) as built:
        translate = Translator.from_settings(kafka).items_of(
            TENANT, datetime.now(UTC), stored_times(built.application)
        )
        assert dict(backfill_file(built.ingest, export, translate=translate).counts) == {
            "recorded": 5
        }

    fresh = [
        statement(f"s{i}", "answered", activity_type="question", result={"success": True})
        for i in range(4)
    ]
    changed = {**replayed[0], "verb": {"id": "http://adlnet.gov/expapi/verbs/launched"}}
    invalid = {**statement("s9", "experienced"), "timestamp": "yesterday"}
    produce(
        kafka,
        messages([*replayed, *fresh, changed, fixture("adl/voided-statementref.json"), invalid]),
        XAPI,
    )
    produce(kafka, [(b"kx", orjson.dumps([replayed[1]]))], [("X-Experience-API-Version", b"1.0.3")])
    produce(
        kafka,
        messages([statement("s1", "experienced")]),
        [("content-type", b"application/xapi+json"), ("mastery-tenant", b"Not A Tenant")],
    )
    event = {
        "event_id": "plain-1",
        "timestamp": "2026-01-14T10:30:00Z",
        "tenant_id": TENANT,
        "student_id": "s1",
        "component": "consistency",
        "data": {},
    }
    produce(kafka, encoded([event]))

    with running(run_consumer, kafka):
        wait_for(lambda: fully_committed(kafka), 120, "offsets committed to the end")

    database = kafka.require_database_url()
    assert count_rows(database, "SELECT count(*) FROM mastery_event_ids") == 5 + 4 + 1
    dead = read_topic(kafka, kafka.kafka_dlq_topic)
    codes = Counter(d["error"]["code"] for d in dead)
    assert codes == {"conflict": 1, "validation_error": 3}
    by_value = {base64.b64decode(d["value"]): d for d in dead}
    conflict = by_value[orjson.dumps(changed)]
    assert conflict["event_id"] == changed["id"] and conflict["tenant_id"] == TENANT
    assert by_value[orjson.dumps(invalid)]["error"]["errors"][0]["loc"] == "timestamp"
    reasons = {d["error"]["detail"] for d in dead}
    assert any("one statement, not an array" in r for r in reasons)
    assert any("mastery-tenant" in r for r in reasons)
