"""Audit and subject exports, their verification, and retention (issue 6)."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from infrastructure.bootstrap import build
from infrastructure.compliance.export_verify import verify_export
from infrastructure.compliance.exports import export_subject, export_tenant
from infrastructure.compliance.retention import apply, plan
from infrastructure.event_store.keys import MasterKey
from infrastructure.ingest.parallel import parallel_backfill
from infrastructure.settings import Settings
from infrastructure.synthetic import CohortShape, cohort_events
from tests.support import erase, write_jsonl

MASTER = MasterKey.generate()


@pytest.fixture
def secret_settings(full_settings: Settings) -> Settings:
    return replace(full_settings, master_key=MASTER)


def add_access_entries(settings: Settings, tenant: str, students: list[str], at: datetime) -> None:
    with psycopg.connect(settings.require_database_url()) as conn:
        for n, student in enumerate(students):
            conn.execute(
                "INSERT INTO access_log (at, request_id, subject, role, tenant_id, student_id, "
                "route, action, outcome, status) VALUES (%s, %s, 'teacher-1', 'teacher', %s, %s, "
                "'/v1/students/{id}/mastery', 'read', 'allowed', 200)",
                (at, f"req-{n}", tenant, student),
            )


def test_a_100k_event_export_verifies_and_any_change_is_named(
    secret_settings: Settings, tmp_path: Path
) -> None:
    shape = CohortShape(
        students=500, events=100_000, days=30, tenant_id="audit", end=date(2026, 5, 30)
    )
    source = write_jsonl(tmp_path / "events.jsonl", cohort_events(shape))
    assert parallel_backfill(secret_settings, source, workers=2).counts["recorded"] == 100_000
    add_access_entries(
        secret_settings, "audit", ["s00001", "s00002"], datetime(2026, 5, 10, tzinfo=UTC)
    )
    out = tmp_path / "export"
    with build(secret_settings) as built:
        summary = export_tenant(
            built.application.mapper,
            built.settings.require_database_url(),
            "audit",
            date(2026, 5, 1),
            date(2026, 5, 30),
            out,
        )
    assert summary.files["events.jsonl"].records == 100_000
    assert summary.files["access_log.jsonl"].records == 2
    assert verify_export(out) == []
    manifest = json.loads((out / "manifest.json").read_text())
    assert (
        manifest["files"]["events.jsonl"]["first_position"]
        < manifest["files"]["events.jsonl"]["last_position"]
    )

    lines = (out / "events.jsonl").read_text().splitlines(keepends=True)
    target = random.Random(1).randrange(1, len(lines) - 1)
    altered = json.loads(lines[target])
    altered["data"] = (
        {**altered["data"], "correct_answers": 0}
        if "correct_answers" in altered["data"]
        else {"x": 1}
    )
    (out / "events.jsonl").write_text(
        "".join([*lines[:target], json.dumps(altered) + "\n", *lines[target + 1 :]])
    )
    problems = verify_export(out)
    assert problems and problems[0].line == target + 1

    (out / "events.jsonl").write_text(
        "".join([*lines[:target], *lines[target + 1 :]])
    )  # one removed
    problems = verify_export(out)
    assert problems and problems[0].line == target + 1  # the line after the gap breaks


def test_csv_exports_verify_too(secret_settings: Settings, tmp_path: Path) -> None:
    with build(secret_settings) as built:
        built.ingest.ingest(
            list(cohort_events(CohortShape(students=5, events=200, tenant_id="csv")))
        )
        export_tenant(
            built.application.mapper,
            built.settings.require_database_url(),
            "csv",
            date(2000, 1, 1),
            date(2100, 1, 1),
            tmp_path / "c",
            "csv",
        )
    assert verify_export(tmp_path / "c") == []
    path = tmp_path / "c" / "events.csv"
    rows = path.read_bytes().splitlines(keepends=True)
    rows[5] = rows[5].replace(b",", b",tampered-", 1)  # line 6: its event_id changes
    path.write_bytes(b"".join(rows))
    problems = verify_export(tmp_path / "c")
    assert problems and problems[0].line == 6


def test_subject_export_holds_everything_and_says_when_erased(
    secret_settings: Settings, tmp_path: Path
) -> None:
    events = list(cohort_events(CohortShape(students=3, events=90, tenant_id="subj")))
    add_access_entries(secret_settings, "subj", ["s00001"], datetime.now(UTC))
    with build(secret_settings) as built:
        built.ingest.ingest(events)
        built.projector.catch_up()
        summary = export_subject(
            built.application.mapper,
            built.view,
            built.settings.require_database_url(),
            "subj",
            "s00001",
            tmp_path / "s1",
        )
        own = [e for e in events if e["student_id"] == "s00001"]
        assert summary.files["events.jsonl"].records == len(own)
        assert summary.files["mastery.jsonl"].records >= 2  # current + snapshots
        assert summary.files["access_log.jsonl"].records == 1
        assert verify_export(tmp_path / "s1") == []
        erase(
            built,
            "subj",
            "s00001",
            requested_by="dpo",
            reason="subject request",
        )
        export_subject(
            built.application.mapper,
            built.view,
            built.settings.require_database_url(),
            "subj",
            "s00001",
            tmp_path / "gone",
        )
    manifest = json.loads((tmp_path / "gone" / "manifest.json").read_text())
    assert manifest["erased"] is True
    assert manifest["files"]["events.jsonl"]["records"] == 0


def test_retention_dry_run_and_apply_agree(secret_settings: Settings) -> None:
    today = datetime.now(UTC).date()
    recent = CohortShape(students=4, events=80, tenant_id="ret", end=today, days=5, seed=1)
    stale = CohortShape(
        students=3, events=60, tenant_id="ret-old", end=today - timedelta(days=200), days=5, seed=2
    )
    settings = replace(secret_settings, retention_days=90)
    old_entry = datetime.now(UTC) - timedelta(days=120)
    add_access_entries(settings, "ret", ["s00001", "s00002"], old_entry)
    add_access_entries(settings, "ret", ["s00003"], datetime.now(UTC))
    with build(settings) as built:
        built.ingest.ingest([*cohort_events(recent), *cohort_events(stale)])
        built.projector.catch_up()
        dry = plan(
            built.application, built.settings.require_database_url(), built.settings.retention_days
        )
        assert sorted((s.tenant_id, s.student_id) for s in dry.students) == [
            ("ret-old", "s00000"),
            ("ret-old", "s00001"),
            ("ret-old", "s00002"),
        ]
        assert dry.access_log_entries == 2
        assert apply(built.application, built.view, built.settings.require_database_url(), dry) == 3
        assert (
            plan(
                built.application,
                built.settings.require_database_url(),
                built.settings.retention_days,
            ).students
            == []
        )
    with psycopg.connect(settings.require_database_url()) as conn:
        left = conn.execute("SELECT count(*) FROM access_log").fetchone()
        register = conn.execute(
            "SELECT count(*) FROM erasures WHERE requested_by = 'retention'"
        ).fetchone()
    assert left == (1,) and register == (3,)
