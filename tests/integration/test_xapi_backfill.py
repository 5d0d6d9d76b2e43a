"""An LRS export replayed through backfill against a real PostgreSQL: a JSON array or JSONL of
statements, in one process or partitioned over two; repeats are duplicates, changed
statements conflicts (in the rejects file with their reasons), voiding statements ignored."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from infrastructure.bootstrap import build
from infrastructure.ingest.backfill import backfill_file
from infrastructure.ingest.parallel import parallel_backfill
from infrastructure.settings import ConfigurationError, Settings
from infrastructure.xapi.translate import Translator, stored_times
from tests.support import count_rows
from tests.xapi_statements import fixture, statement

TENANT = "lrs"


def export(count: int) -> list[dict[str, Any]]:
    kinds: list[dict[str, Any]] = [
        {"verb": "answered", "activity_type": "question", "result": {"success": True}},
        {"verb": "progressed", "result": {"completion": False}},
        {"verb": "experienced"},
    ]
    return [
        statement(
            f"s{index % 7}", **kinds[index % 3], activity=f"http://lms.example.com/c/{index % 5}"
        )
        for index in range(count)
    ]


def write_array(path: Path, statements: list[Any]) -> Path:
    path.write_text(json.dumps(statements, indent=2), encoding="utf-8")
    return path


def translate(built: Any, tenant: str = TENANT) -> Any:
    return Translator.from_settings(built.settings).items_of(
        tenant, datetime.now(UTC), stored_times(built.application)
    )


def test_an_lrs_export_is_replayed_idempotently(settings: Settings, tmp_path: Path) -> None:
    statements = export(60)
    voided = fixture("adl/voided-statementref.json")
    changed = {**statements[0], "result": {"success": False}}
    source = write_array(tmp_path / "export.json", [*statements, voided, "oops"])
    again = tmp_path / "again.jsonl"
    again.write_text("\n".join(json.dumps(s) for s in [*statements[:10], changed]) + "\n")

    with build(settings) as built:
        first = backfill_file(built.ingest, source, translate=translate(built))
        second = backfill_file(built.ingest, again, translate=translate(built))

    assert dict(first.counts) == {"recorded": 60, "ignored": 1, "rejected": 1}
    assert dict(second.counts) == {"duplicate": 10, "conflict": 1}
    database = settings.require_database_url()
    assert count_rows(database, "SELECT count(*) FROM mastery_event_ids") == 60
    [rejected] = [json.loads(line) for line in first.rejects_path.read_text().splitlines()]
    assert rejected["code"] == "validation_error" and rejected["raw"] == '"oops"'
    [conflict] = [json.loads(line) for line in second.rejects_path.read_text().splitlines()]
    assert (conflict["status"], conflict["event_id"], conflict["line"]) == (
        "conflict",
        statements[0]["id"],
        11,
    )


def test_a_partitioned_backfill_of_statements_records_each_once(
    settings: Settings, tmp_path: Path
) -> None:
    statements = export(90)
    source = write_array(tmp_path / "export.json", statements)
    with build(settings) as built:
        summary = parallel_backfill(built.settings, source, workers=2, xapi_tenant=TENANT)
        repeat = parallel_backfill(built.settings, source, workers=2, xapi_tenant=TENANT)
    assert dict(summary.counts) == {"recorded": 90}
    assert dict(repeat.counts) == {"duplicate": 90}


def test_a_mapping_file_changes_what_a_statement_becomes(
    settings: Settings, tmp_path: Path
) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        """
rules:
  - name: every-verb-is-a-finished-exercise
    component: completion
    data:
      completed_exercises: {const: 1}
      total_exercises: {const: 1}
      difficulty: {const: advanced}
""",
        encoding="utf-8",
    )
    sent = statement("m1", "experienced")
    source = write_array(tmp_path / "one.json", [sent])
    custom = Settings(**{**_fields(settings), "xapi_mapping": mapping})
    with build(custom) as built:
        summary = backfill_file(built.ingest, source, translate=translate(built))
        [event] = list(built.application.learning_events(TENANT, "m1"))
    assert dict(summary.counts) == {"recorded": 1}
    assert (event.component, event.data) == (
        "completion",
        {"completed_exercises": 1, "total_exercises": 1, "difficulty": "advanced"},
    )
    assert (
        event.metadata is not None and event.metadata["rule"] == "every-verb-is-a-finished-exercise"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("rules: []", "rules: List should have at least 1 item"),
        ("rules:\n  - name: x\n    component: telepathy", "rules.0.component"),
        ("rules:\n  - name: x\n    ignore: y\n    component: quiz", "exactly one of ignore"),
        (
            "rules:\n  - name: x\n    component: quiz\n    data: {a: {builtin: nope}}",
            "unknown builtin",
        ),
        ("rules: [", "not valid YAML"),
    ],
)
def test_a_bad_mapping_file_stops_the_start_with_its_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError, match="MASTERY_XAPI_MAPPING") as raised:
        Translator.from_settings(Settings(xapi_mapping=mapping))
    assert problem in str(raised.value)


def _fields(settings: Settings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}


def test_statement_ids_are_case_insensitive(settings: Settings, tmp_path: Path) -> None:
    sent = statement("c1", "experienced", statement_id=str(uuid.uuid4()).upper())
    source = write_array(tmp_path / "case.json", [sent, {**sent, "id": sent["id"].lower()}])
    with build(settings) as built:
        summary = backfill_file(built.ingest, source, translate=translate(built))
    assert dict(summary.counts) == {"recorded": 1, "duplicate": 1}
