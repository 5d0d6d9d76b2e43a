"""`mastery erase`, `mastery audit export|verify` as an operator runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from infrastructure.event_store.keys import MasterKey
from infrastructure.synthetic import CohortShape, cohort_events
from tests.support import write_jsonl


def mastery(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli.main", *args],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_export_verify_and_erase(
    database_url: str, redis_server_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    env = dict(
        os.environ,
        MASTERY_DATABASE_URL=database_url,
        MASTERY_REDIS_URL=redis_server_url,
        MASTERY_REDIS_PREFIX=redis_prefix,
        MASTERY_MASTER_KEY=MasterKey.generate(),
        COLUMNS="200",
    )
    events = list(cohort_events(CohortShape(students=6, events=300, tenant_id="cli")))
    assert mastery(env, "backfill", str(write_jsonl(tmp_path / "e.jsonl", events))).returncode == 0

    out = tmp_path / "audit"
    exported = mastery(env, "audit", "export", "--tenant", "cli", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    assert (
        json.loads((out / "manifest.json").read_text())["files"]["events.jsonl"]["records"] == 300
    )
    assert mastery(env, "audit", "verify", str(out)).returncode == 0

    lines = (out / "events.jsonl").read_text().splitlines(keepends=True)
    (out / "events.jsonl").write_text("".join(lines[:10] + lines[11:]))
    broken = mastery(env, "audit", "verify", str(out))
    assert broken.returncode == 1 and "events.jsonl line 11" in broken.stdout

    (out / "manifest.json").write_text("{not json")
    unreadable = mastery(env, "audit", "verify", str(out))
    assert unreadable.returncode == 2 and "Traceback" not in unreadable.stderr

    unknown = mastery(
        env,
        "audit",
        "export",
        "--tenant",
        "cli",
        "--student",
        "nobody",
        "--out",
        str(tmp_path / "n"),
    )
    assert unknown.returncode == 1 and "nobody" in unknown.stderr

    erased = mastery(env, "erase", "s00001", "--tenant", "cli")
    assert erased.returncode == 0, erased.stderr
    assert "erased cli/s00001" in erased.stdout
    assert "already erased" in mastery(env, "erase", "s00001", "--tenant", "cli").stdout
    replay = mastery(env, "replay", "s00001", "--tenant", "cli")
    assert replay.returncode == 1 and "erased" in replay.stderr

    bad_key = mastery(
        dict(env, MASTERY_MASTER_KEY="not-base64!"), "replay", "s00002", "--tenant", "cli"
    )
    assert bad_key.returncode == 2 and "MASTERY_MASTER_KEY" in bad_key.stderr
