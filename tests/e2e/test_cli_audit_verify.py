"""`mastery audit verify` checks the manifest itself (issue 11, item 6), as an operator runs it:
exit 1 naming what differs, 2 when the manifest cannot be verified at all."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infrastructure.event_store.keys import MasterKey
from infrastructure.synthetic import CohortShape, cohort_events
from tests.support import write_jsonl


def mastery(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli.main", *args],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def verify_after(
    env: dict[str, str], folder: Path, edit: Callable[[dict[str, Any]], None]
) -> subprocess.CompletedProcess[str]:
    """`audit verify` once the manifest has been edited; the manifest is put back after."""
    path = folder / "manifest.json"
    original = path.read_text()
    manifest = json.loads(original)
    edit(manifest)
    path.write_text(json.dumps(manifest, indent=2))
    try:
        return mastery(env, "audit", "verify", str(folder))
    finally:
        path.write_text(original)


def assert_altered(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    shown = " ".join(result.stdout.split())
    for fragment in fragments:
        assert fragment in shown, (fragment, result.stdout)
    assert "intact" not in result.stdout and "Traceback" not in result.stderr


def test_verify_checks_the_manifest_and_keeps_to_the_folder(
    database_url: str, redis_server_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    env = dict(
        os.environ,
        MASTERY_DATABASE_URL=database_url,
        MASTERY_REDIS_URL=redis_server_url,
        MASTERY_REDIS_PREFIX=redis_prefix,
        MASTERY_MASTER_KEY=MasterKey.generate(),
        MASTERY_DATA_DIR=str(tmp_path / "data"),
        COLUMNS="250",
    )
    events = list(cohort_events(CohortShape(students=3, events=60, tenant_id="cli")))
    assert mastery(env, "backfill", str(write_jsonl(tmp_path / "e.jsonl", events))).returncode == 0
    subject, erased, audit = tmp_path / "subject", tmp_path / "erased", tmp_path / "audit"
    exported = mastery(
        env, "audit", "export", "--tenant", "cli", "--student", "s00001", "--out", str(subject)
    )
    assert exported.returncode == 0, exported.stderr
    assert mastery(env, "erase", "s00002", "--tenant", "cli").returncode == 0
    for args in (("--student", "s00002", "--out", str(erased)), ("--out", str(audit))):
        assert mastery(env, "audit", "export", "--tenant", "cli", *args).returncode == 0
    for folder in (subject, erased, audit):
        intact = mastery(env, "audit", "verify", str(folder))
        assert intact.returncode == 0 and "intact" in intact.stdout, intact.stdout

    assert_altered(
        verify_after(env, subject, lambda m: m.update(student_id="s00000")),
        "manifest.json: header edited",
    )
    assert_altered(verify_after(env, erased, lambda m: m.update(erased=False)))
    assert_altered(
        verify_after(env, audit, lambda m: m["files"]["events.jsonl"].update(first_position=1)),
        "events.jsonl: first_position is",
    )
    assert_altered(
        verify_after(env, audit, lambda m: m.update(files={})),
        "events.jsonl: not in the manifest",
        "access_log.jsonl: not in the manifest",
    )

    (subject / "extra.jsonl").write_text("{}\n")
    assert_altered(mastery(env, "audit", "verify", str(subject)), "extra.jsonl: not part of")
    (subject / "extra.jsonl").unlink()
    shutil.move(subject / "mastery.jsonl", tmp_path / "mastery.jsonl")
    assert_altered(mastery(env, "audit", "verify", str(subject)), "mastery.jsonl: file is missing")
    (subject / "mastery.jsonl").symlink_to(tmp_path / "mastery.jsonl")
    assert_altered(mastery(env, "audit", "verify", str(subject)), "is a symbolic link")
    (subject / "mastery.jsonl").unlink()
    shutil.move(tmp_path / "mastery.jsonl", subject / "mastery.jsonl")

    def escape(manifest: dict[str, Any]) -> None:
        manifest["files"]["../x/events.jsonl"] = manifest["files"].pop("events.jsonl")

    outside = verify_after(env, audit, escape)
    assert outside.returncode == 2, (outside.stdout, outside.stderr)
    assert "not a readable manifest" in " ".join(outside.stderr.split())


def test_the_manifest_digest_printed_by_export_pins_the_manifest(
    database_url: str, redis_server_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    env = dict(
        os.environ,
        MASTERY_DATABASE_URL=database_url,
        MASTERY_REDIS_URL=redis_server_url,
        MASTERY_REDIS_PREFIX=redis_prefix,
        MASTERY_DATA_DIR=str(tmp_path / "data"),
        COLUMNS="250",
    )
    events = list(cohort_events(CohortShape(students=2, events=20, tenant_id="cli")))
    assert mastery(env, "backfill", str(write_jsonl(tmp_path / "e.jsonl", events))).returncode == 0
    out = tmp_path / "audit"
    exported = mastery(env, "audit", "export", "--tenant", "cli", "--out", str(out))
    found = re.search(r"manifest sha256: ([0-9a-f]{64})", exported.stdout)
    assert exported.returncode == 0 and found, exported.stdout
    digest = found.group(1)

    pinned = mastery(env, "audit", "verify", str(out), "--manifest-sha256", digest)
    assert pinned.returncode == 0, pinned.stdout
    other = mastery(env, "audit", "verify", str(out), "--manifest-sha256", "0" * 64)
    assert_altered(other, "manifest.json: not the manifest whose SHA-256 was given")
    bad = mastery(env, "audit", "verify", str(out), "--manifest-sha256", "xyz")
    assert bad.returncode == 2 and "64 hexadecimal digits" in bad.stderr, bad.stderr
