"""`verify_export` takes nothing in the manifest on trust (issue 11, item 6): each field it
states is recomputed from the files or checked, the set of files is the one the export's kind
fixes, and nothing outside the export folder is read."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from infrastructure.bootstrap import build
from infrastructure.compliance.export_verify import Problem, verify_export
from infrastructure.compliance.exports import export_subject, export_tenant
from infrastructure.compliance.hash_chain import (
    HASH_CHAIN_V1,
    SEED,
    ExportError,
    canonical,
    header_digest,
    link,
)
from infrastructure.event_store.keys import MasterKey
from infrastructure.settings import Settings
from infrastructure.synthetic import CohortShape, cohort_events
from tests.support import erase

Edit = Callable[[dict[str, Any]], None]


@pytest.fixture
def exports(full_settings: Settings, tmp_path: Path) -> dict[str, Path]:
    """Intact exports of one tenant: an audit export (with an erased student's events among
    them) as JSONL and CSV, a subject export and an erased student's subject export."""
    settings = replace(full_settings, master_key=MasterKey.generate())
    folders = {
        name: tmp_path / name for name in ("audit", "audit_csv", "subject", "erased", "lone")
    }
    with build(settings) as built:
        built.ingest.ingest(
            list(cohort_events(CohortShape(students=4, events=120, tenant_id="ver")))
        )
        built.projector.catch_up()
        erase(
            built,
            "ver",
            "s00003",
            requested_by="dpo",
            reason="test",
        )
        for name, fmt in (("audit", "jsonl"), ("audit_csv", "csv")):
            export_tenant(
                built.application.mapper,
                built.settings.require_database_url(),
                "ver",
                date(2026, 10, 1),
                date(2026, 11, 30),
                folders[name],
                fmt,
            )
        export_subject(
            built.application.mapper,
            built.view,
            built.settings.require_database_url(),
            "ver",
            "s00001",
            folders["subject"],
        )
        export_subject(
            built.application.mapper,
            built.view,
            built.settings.require_database_url(),
            "ver",
            "s00003",
            folders["erased"],
        )
        built.ingest.ingest(
            list(cohort_events(CohortShape(students=1, events=5, tenant_id="ver2")))
        )
        erase(
            built,
            "ver2",
            "s00000",
            requested_by="dpo",
            reason="test",
        )
        export_subject(
            built.application.mapper,
            built.view,
            built.settings.require_database_url(),
            "ver2",
            "s00000",
            folders["lone"],
        )  # erased, nothing else held
    for folder in folders.values():
        assert verify_export(folder) == [], folder
    return folders


def manifest_of(folder: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((folder / "manifest.json").read_text())
    return loaded


def edited(folder: Path, edit: Edit, *, rehash_header: bool = False) -> list[Problem]:
    """Verify the folder after one edit of its manifest (put back afterwards)."""
    path = folder / "manifest.json"
    original = path.read_text()
    manifest = json.loads(original)
    edit(manifest)
    if rehash_header:  # a forger who knows the header rule but cannot re-chain the records
        header = {k: v for k, v in manifest.items() if k not in ("files", "header_sha256")}
        manifest["header_sha256"] = header_digest(header)
    path.write_text(json.dumps(manifest, indent=2))
    try:
        return verify_export(folder)
    finally:
        path.write_text(original)


def setter(*keys: str, value: Any) -> Edit:
    def edit(manifest: dict[str, Any]) -> None:
        target = manifest
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return edit


def shifted(*keys: str, by: int) -> Edit:
    def edit(manifest: dict[str, Any]) -> None:
        entry = manifest["files"][keys[0]]
        entry[keys[1]] += by

    return edit


AUDIT_EDITS: dict[str, Edit] = {
    "tenant_id": setter("tenant_id", value="other"),
    "from": setter("from", value="2026-11-01"),
    "to": setter("to", value="2026-10-20"),
    "from widened": setter("from", value="2000-01-01"),
    "created_at": setter("created_at", value="2020-01-01T00:00:00Z"),
    "seed": setter("seed", value="0" * 64),
    "hash_chain": setter("hash_chain", value="anything"),
    "an added field": setter("signed_by", value="the auditor"),
    "records": shifted("events.jsonl", "records", by=-1),
    "first_position": shifted("events.jsonl", "first_position", by=1),
    "last_position": shifted("events.jsonl", "last_position", by=-1),
    "positions of the access log": setter("files", "access_log.jsonl", "first_position", value=1),
    "chain": setter("files", "events.jsonl", "chain", value="0" * 64),
    "sha256": setter("files", "access_log.jsonl", "sha256", value="0" * 64),
    "columns": setter("files", "events.jsonl", "columns", value=["position"]),
    "a field of a file entry": setter("files", "events.jsonl", "note", value="x"),
    "files emptied": setter("files", value={}),
    "a file entry removed": lambda m: m["files"].pop("access_log.jsonl"),
    "a file entry added": setter(
        "files", "mastery.jsonl", value={"records": 0, "chain": SEED, "sha256": "", "columns": []}
    ),
    "format": setter("format", value="csv"),
}


@pytest.mark.parametrize("rehash_header", [False, True], ids=["as is", "header rehashed"])
def test_each_edited_field_of_an_audit_manifest_is_reported(
    exports: dict[str, Path], rehash_header: bool
) -> None:
    edits = AUDIT_EDITS
    if not rehash_header:
        edits = {**edits, "header_sha256": setter("header_sha256", value="0" * 64)}
    unreported = [
        name
        for name, edit in edits.items()
        if not edited(exports["audit"], edit, rehash_header=rehash_header)
    ]
    assert unreported == []


def test_the_problem_names_what_differs(exports: dict[str, Path]) -> None:
    def reasons(edit: Edit, *, rehash_header: bool = True) -> str:
        found = edited(exports["audit"], edit, rehash_header=rehash_header)
        return " | ".join(f"{p.file}: {p.reason}" for p in found)

    header = reasons(setter("tenant_id", value="other"), rehash_header=False)
    assert "manifest.json: header edited" in header
    assert "events.jsonl: tenant_id 'ver', the manifest says 'other'" in reasons(
        setter("tenant_id", value="other")
    )
    assert "outside the manifest's 2026-11-01 to 2026-11-30" in reasons(
        setter("from", value="2026-11-01")
    )
    assert "events.jsonl: first_position is" in reasons(
        shifted("events.jsonl", "first_position", by=1)
    )
    emptied = reasons(setter("files", value={}))
    assert "events.jsonl: not in the manifest" in emptied
    assert "access_log.jsonl: not in the manifest" in emptied


@pytest.mark.parametrize("folder", ["subject", "erased", "lone"])
@pytest.mark.parametrize("rehash_header", [False, True], ids=["as is", "header rehashed"])
def test_student_id_and_erased_of_a_subject_manifest_are_checked(
    exports: dict[str, Path], folder: str, rehash_header: bool
) -> None:
    erased = manifest_of(exports[folder])["erased"]
    assert erased is (folder != "subject")
    for edit in (setter("student_id", value="s00002"), setter("erased", value=not erased)):
        assert edited(exports[folder], edit, rehash_header=rehash_header)


def test_a_subject_export_says_why_its_erased_flag_is_wrong(exports: dict[str, Path]) -> None:
    flipped = edited(exports["subject"], setter("erased", value=True), rehash_header=True)
    assert any(p.reason.startswith("erased is true, but the export holds") for p in flipped)
    unflipped = edited(exports["erased"], setter("erased", value=False), rehash_header=True)
    assert Problem("manifest.json", None, "erased is false, but the export holds no events") in (
        unflipped
    )


def test_csv_manifests_are_checked_the_same_way(exports: dict[str, Path]) -> None:
    folder = exports["audit_csv"]
    assert edited(folder, setter("tenant_id", value="x"), rehash_header=True)
    assert edited(folder, shifted("events.csv", "last_position", by=1))
    assert edited(folder, setter("files", value={}))
    rows = (folder / "events.csv").read_text().splitlines(keepends=True)
    (folder / "events.csv").write_text("".join([rows[0].replace("topic", "subject"), *rows[1:]]))
    problems = verify_export(folder)
    assert Problem("events.csv", 1, "header row differs from the export's columns") in problems


def test_a_file_missing_or_added_is_reported(exports: dict[str, Path]) -> None:
    folder = exports["subject"]
    (folder / "notes.txt").write_text("added later")
    assert verify_export(folder) == [Problem("notes.txt", None, "not part of the export")]
    (folder / "notes.txt").unlink()
    (folder / "mastery.jsonl").unlink()
    assert verify_export(folder) == [Problem("mastery.jsonl", None, "file is missing")]


def test_nothing_outside_the_folder_is_read(exports: dict[str, Path], tmp_path: Path) -> None:
    folder = exports["audit"]
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.move(folder / "events.jsonl", outside / "events.jsonl")  # the same, intact bytes
    (folder / "events.jsonl").symlink_to(outside / "events.jsonl")
    problems = verify_export(folder)
    assert problems == [Problem("events.jsonl", None, "is a symbolic link; not followed")]

    for name in ("../outside/events.jsonl", str(outside / "events.jsonl")):

        def escape(manifest: dict[str, Any], name: str = name) -> None:
            manifest["files"][name] = manifest["files"].pop("events.jsonl")

        with pytest.raises(ExportError, match="is not a file of the export folder"):
            edited(folder, escape)

    (folder / "events.jsonl").unlink()
    shutil.move(outside / "events.jsonl", folder / "events.jsonl")
    assert verify_export(folder) == []
    shutil.move(folder / "manifest.json", outside / "manifest.json")
    (folder / "manifest.json").symlink_to(outside / "manifest.json")
    with pytest.raises(ExportError, match="is a symbolic link"):
        verify_export(folder)


@pytest.mark.parametrize(
    ("folder", "edit"),
    [
        ("audit", setter("kind", value="subject")),  # a subject manifest needs student_id...
        ("audit", setter("kind", value="report")),
        ("subject", setter("erased", value="no")),
        ("subject", setter("student_id", value=None)),
        ("audit", setter("from", value="May")),
        ("audit", setter("files", "events.jsonl", "records", value="300")),
        ("audit", setter("files", "events.jsonl", "first_position", value="1")),
        ("audit", setter("files", value=[])),
    ],
)
def test_a_malformed_manifest_cannot_be_verified(
    exports: dict[str, Path], folder: str, edit: Edit
) -> None:
    with pytest.raises(ExportError, match="not a readable manifest"):
        edited(exports[folder], edit)


def test_a_consistent_rewrite_verifies_unless_the_manifest_digest_was_kept(
    exports: dict[str, Path],
) -> None:
    """The limit of an unkeyed chain: whoever rewrites records, chains and manifest together
    (here in the pre-header format, chained from the seed) makes an export that verifies; the
    manifest's SHA-256 kept since the export was made tells it apart."""
    folder = exports["subject"]
    kept = hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
    assert verify_export(folder, manifest_sha256=kept) == []
    manifest = manifest_of(folder)
    manifest.pop("header_sha256")
    manifest["hash_chain"] = HASH_CHAIN_V1
    for name, entry in manifest["files"].items():
        chain, lines = SEED, []
        for text in (folder / name).read_text().splitlines():
            record = json.loads(text)
            record.pop("chain")
            if "data" in record and isinstance(record["data"], dict):
                record["data"]["forged"] = 1
            chain = link(chain, canonical(record, tuple(entry["columns"])))
            lines.append(json.dumps({**record, "chain": chain}) + "\n")
        (folder / name).write_text("".join(lines))
        entry["chain"] = chain
        entry["sha256"] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert verify_export(folder) == []
    assert verify_export(folder, manifest_sha256=kept) == [
        Problem("manifest.json", None, "not the manifest whose SHA-256 was given")
    ]
