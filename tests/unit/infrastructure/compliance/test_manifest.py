"""Writing an export folder (``infrastructure.compliance.manifest``) without a database: what
the writer produces is what ``verify_export`` accepts, and an edited line is named."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from infrastructure.compliance.export_verify import verify_export
from infrastructure.compliance.hash_chain import (
    ACCESS_COLUMNS,
    EVENT_COLUMNS,
    MANIFEST,
    canonical,
    chain_start,
    header_digest,
    link,
)
from infrastructure.compliance.manifest import (
    ChainedWriter,
    ExportSummary,
    Header,
    file_digest,
    write_manifest,
)

EVENTS: list[dict[str, Any]] = [
    {
        "position": position,
        "event_id": f"e{position}",
        "timestamp": f"2026-05-{position:02d}T10:00:00Z",
        "tenant_id": "t1",
        "student_id": "s1",
        "component": "quiz",
        "data": {"total_questions": 10, "correct_answers": position},
    }
    for position in (3, 4, 9)
]


def write_audit_export(folder: Path, fmt: str) -> ExportSummary:
    header = Header(
        {
            "kind": "audit",
            "tenant_id": "t1",
            "from": "2026-05-01",
            "to": "2026-05-30",
            "format": fmt,
        }
    )
    summary = ExportSummary(folder)
    events = ChainedWriter(folder, "events", header, EVENT_COLUMNS)
    for record in EVENTS:
        events.write(record, record["position"])
    summary.files[events.path.name] = events.close()
    access = ChainedWriter(folder, "access_log", header, ACCESS_COLUMNS)
    summary.files[access.path.name] = access.close()
    write_manifest(summary, header)
    return summary


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_written_export_verifies(tmp_path: Path, fmt: str) -> None:
    summary = write_audit_export(tmp_path, fmt)
    assert verify_export(tmp_path, summary.manifest_sha256) == []
    events = summary.files[f"events.{fmt}"]
    assert (events.records, events.first_position, events.last_position) == (3, 3, 9)
    assert summary.files[f"access_log.{fmt}"].records == 0


def test_the_manifest_states_each_file_and_the_header_it_chains_from(tmp_path: Path) -> None:
    summary = write_audit_export(tmp_path, "jsonl")
    manifest = json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    assert summary.manifest_sha256 == file_digest(tmp_path / MANIFEST)
    entry = manifest["files"]["events.jsonl"]
    assert entry["sha256"] == file_digest(tmp_path / "events.jsonl")
    assert entry["columns"] == list(EVENT_COLUMNS)
    header = {k: v for k, v in manifest.items() if k not in ("files", "header_sha256")}
    assert manifest["header_sha256"] == header_digest(header)
    lines = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    first = {k: v for k, v in lines[0].items() if k != "chain"}
    start = chain_start(manifest["header_sha256"])
    assert lines[0]["chain"] == link(start, canonical(first, EVENT_COLUMNS))
    assert lines[-1]["chain"] == summary.files["events.jsonl"].chain == entry["chain"]


def test_each_later_line_carries_the_link_from_the_line_before(tmp_path: Path) -> None:
    write_audit_export(tmp_path, "jsonl")
    lines = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    for before, after in pairwise(lines):
        record = {k: v for k, v in after.items() if k != "chain"}
        assert after["chain"] == link(before["chain"], canonical(record, EVENT_COLUMNS))


def test_an_edited_line_is_named(tmp_path: Path) -> None:
    write_audit_export(tmp_path, "jsonl")
    path = tmp_path / "events.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = lines[1].replace('"correct_answers": 4', '"correct_answers": 5')
    path.write_text("".join(lines), encoding="utf-8")
    problems = verify_export(tmp_path)
    assert problems
    assert (problems[0].file, problems[0].line) == ("events.jsonl", 2)
