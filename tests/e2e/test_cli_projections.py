"""`mastery project`, `mastery projections ...` and `replay --check` as an operator runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from infrastructure.redis_views.keys import Keys
from infrastructure.settings import Settings
from infrastructure.synthetic import CohortShape, cohort_events
from tests.support import Connect, write_jsonl


def environment(database_url: str, redis: Settings, prefix: str) -> dict[str, str]:
    return dict(
        os.environ,
        MASTERY_DATABASE_URL=database_url,
        MASTERY_REDIS_URL=str(redis.redis_url),
        MASTERY_REDIS_CLUSTER=str(redis.redis_cluster).lower(),
        MASTERY_REDIS_PREFIX=prefix,
        MASTERY_SNAPSHOT_TTL_DAYS="0",
        COLUMNS="200",
    )


def mastery(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_rebuild_status_and_check(
    database_url: str,
    redis_settings: Settings,
    redis_prefix: str,
    tmp_path: Path,
    redis_connect: Connect,
) -> None:
    env = environment(database_url, redis_settings, redis_prefix)
    events = list(cohort_events(CohortShape(students=20, events=1500, tenant_id="ops", seed=5)))
    assert mastery(env, "backfill", str(write_jsonl(tmp_path / "e.jsonl", events))).returncode == 0

    behind = json.loads(mastery(env, "projections", "status", "--json").stdout)
    assert behind["projections"][0]["lag_events"] == behind["event_store_head"] > 0

    rebuilt = mastery(env, "projections", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilt 20 student(s) of all tenants" in rebuilt.stdout

    caught_up = json.loads(mastery(env, "projections", "status", "--json").stdout)
    assert caught_up["projections"][0]["lag_events"] == 0

    check = mastery(env, "replay", "s00003", "--tenant", "ops", "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "match the event store" in check.stdout

    client = redis_connect(redis_settings)
    key = Keys(redis_prefix).current("ops", "s00003")
    document = json.loads(client.get(key) or b"{}")
    document["mastery_score"] = 0.001
    client.set(key, json.dumps(document))
    tampered = mastery(env, "replay", "s00003", "--tenant", "ops", "--check")
    assert tampered.returncode == 1
    assert "mastery_score" in tampered.stdout and "0.001" in tampered.stdout

    one = mastery(env, "projections", "rebuild", "--tenant", "ops", "--student", "s00003")
    assert one.returncode == 0 and "rebuilt 1 student(s)" in one.stdout
    assert mastery(env, "replay", "s00003", "--tenant", "ops", "--check").returncode == 0


def test_project_follows_new_events_and_stops_cleanly_on_sigterm(
    database_url: str,
    redis_settings: Settings,
    redis_prefix: str,
    tmp_path: Path,
    redis_connect: Connect,
) -> None:
    env = environment(database_url, redis_settings, redis_prefix)
    projector = subprocess.Popen(
        [sys.executable, "-m", "api.cli.main", "project"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        events = list(cohort_events(CohortShape(students=5, events=200, tenant_id="live", seed=6)))
        assert (
            mastery(env, "backfill", str(write_jsonl(tmp_path / "l.jsonl", events))).returncode == 0
        )
        client = redis_connect(redis_settings)
        deadline = time.monotonic() + 30
        key = Keys(redis_prefix).current("live", "s00001")
        while client.get(key) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get(key) is not None
    finally:
        projector.send_signal(signal.SIGTERM)
        out, err = projector.communicate(timeout=20)
    assert projector.returncode == 0, err
    assert "stopped at position" in out
