"""`mastery store check` as an operator runs it: find, dry-run, repair, rebuild, re-check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from infrastructure.event_store.keys import MasterKey
from infrastructure.settings import Settings
from infrastructure.synthetic import CohortShape, cohort_events
from tests.store_corruption import store_a_second_copy, swap_notification_ids
from tests.support import count_rows, write_jsonl


def mastery(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli.main", *args],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_check_repair_and_recheck(
    database_url: str, redis_server_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    master_key = MasterKey.generate()
    env = dict(
        os.environ,
        MASTERY_DATABASE_URL=database_url,
        MASTERY_REDIS_URL=redis_server_url,
        MASTERY_REDIS_PREFIX=redis_prefix,
        MASTERY_MASTER_KEY=master_key,
        MASTERY_SNAPSHOT_TTL_DAYS="0",
        COLUMNS="250",
    )
    events = list(cohort_events(CohortShape(students=6, events=300, tenant_id="ops", seed=3)))
    assert mastery(env, "backfill", str(write_jsonl(tmp_path / "e.jsonl", events))).returncode == 0
    assert mastery(env, "projections", "rebuild").returncode == 0

    intact = mastery(env, "store", "check")
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "intact" in intact.stdout
    assert "300 learning events, 300 id rows" in intact.stdout

    settings = Settings(database_url=database_url, master_key=master_key)
    copy = store_a_second_copy(settings, "ops", "s00002", version=5)
    swap_notification_ids(settings, "ops", "s00003", 2, 4)
    stored = count_rows(database_url, "SELECT count(*) FROM mastery_events")
    # read models that took the copy in: the repair must rebuild them
    taken_in = mastery(env, "projections", "rebuild", "--tenant", "ops", "--student", "s00002")
    assert taken_in.returncode == 0

    broken = mastery(env, "store", "check")
    assert broken.returncode == 1
    assert "2 problem(s): 1 duplicate, 1 version_order" in broken.stdout
    duplicate = next(line for line in broken.stdout.splitlines() if "duplicate " in line)
    assert "s00002" in duplicate and f"delete this copy (version {copy})" in duplicate

    dry_run = mastery(env, "store", "check", "--repair")
    assert dry_run.returncode == 1
    assert "would repair" in dry_run.stdout
    assert f"delete version {copy}" in dry_run.stdout
    assert "to follow commit order, re-sealed for their new versions" in dry_run.stdout
    assert count_rows(database_url, "SELECT count(*) FROM mastery_events") == stored

    applied = mastery(env, "store", "check", "--repair", "--apply")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "rebuilt the read models of 2 student(s)" in applied.stdout
    assert "after the repair:" in applied.stdout
    assert "intact" in applied.stdout.split("after the repair:")[1]
    assert count_rows(database_url, "SELECT count(*) FROM mastery_events") == stored - 1

    assert mastery(env, "store", "check").returncode == 0
    for student in ("s00002", "s00003"):
        replayed = mastery(env, "replay", student, "--tenant", "ops", "--check")
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
