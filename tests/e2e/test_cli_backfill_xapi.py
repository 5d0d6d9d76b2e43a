"""``mastery backfill --format xapi`` as an operator runs it on an LRS export: a real process
against a real PostgreSQL, over two worker processes; a bad mapping file stops it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli_backfill import run
from tests.support import count_rows
from tests.xapi_statements import fixture, statement


def test_an_lrs_export_is_replayed_with_a_summary_and_rejects(
    database_url: str, tmp_path: Path
) -> None:
    statements = [statement(f"s{i % 4}", "experienced") for i in range(12)]
    bad = {**statement("s1", "experienced"), "actor": {"name": "nobody"}}
    export = tmp_path / "export.json"
    export.write_text(
        json.dumps([*statements, fixture("adl/voided-statementref.json"), bad], indent=1)
    )

    first = run(database_url, "backfill", "--format", "xapi", "--tenant", "lrs", str(export))
    again = run(database_url, "backfill", "--format", "xapi", "--tenant", "lrs", str(export))

    assert first.returncode == 1, first.stderr  # a statement was not accepted
    assert "12" in first.stdout and "ignored" in first.stdout
    assert count_rows(database_url, "SELECT count(*) FROM mastery_event_ids") == 12
    lines = (tmp_path / "export.json.rejects.jsonl").read_text().splitlines()
    rejects = [json.loads(line) for line in lines]
    assert [(r["status"], r["errors"][0]["loc"]) for r in rejects] == [("rejected", "actor")]
    assert again.returncode == 1
    assert count_rows(database_url, "SELECT count(*) FROM mastery_event_ids") == 12


def test_a_bad_mapping_file_stops_the_backfill(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = tmp_path / "export.jsonl"
    export.write_text(json.dumps(statement("s1", "experienced")) + "\n")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("rules: []\n")
    monkeypatch.setenv("MASTERY_XAPI_MAPPING", str(mapping))  # the child's environment
    result = run(database_url, "backfill", "--format", "xapi", str(export))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "MASTERY_XAPI_MAPPING" in result.stderr + result.stdout
    assert count_rows(database_url, "SELECT count(*) FROM mastery_event_ids") == 0
