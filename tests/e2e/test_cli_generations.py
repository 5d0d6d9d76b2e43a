"""`mastery generations ...` as an operator runs them: build, list, compare, promote, drop."""

from __future__ import annotations

import json
from pathlib import Path

from infrastructure.settings import Settings
from infrastructure.synthetic import CohortShape, cohort_events
from tests.e2e.test_cli_projections import environment, mastery
from tests.support import write_jsonl


def test_a_rollout_from_the_command_line(
    database_url: str, redis_settings: Settings, redis_prefix: str, tmp_path: Path
) -> None:
    env = environment(database_url, redis_settings, redis_prefix)
    events = list(cohort_events(CohortShape(students=15, events=900, tenant_id="ops", seed=8)))
    assert mastery(env, "backfill", str(write_jsonl(tmp_path / "e.jsonl", events))).returncode == 0
    assert mastery(env, "projections", "rebuild").returncode == 0

    built = mastery(env, "generations", "build", "next", "--formula", "bkt-v1")
    assert built.returncode == 0, built.stderr
    assert "built generation next (bkt-v1)" in built.stdout
    again = mastery(env, "generations", "build", "next")
    assert again.returncode == 1 and "exists already" in again.stderr
    unknown = mastery(env, "generations", "build", "other", "--formula", "nope")
    assert unknown.returncode == 2 and "unknown formula 'nope'" in unknown.stderr

    listed = json.loads(mastery(env, "generations", "list", "--format", "json").stdout)
    assert [(g["name"], g["live"], g["state"], g["lag_events"]) for g in listed] == [
        ("main", True, "ready", 0),
        ("next", False, "ready", 0),
    ]
    assert listed[1]["prefix"] == f"{redis_prefix}gen:next:"
    assert "next" in mastery(env, "generations", "list").stdout

    compared = json.loads(
        mastery(env, "generations", "compare", "main", "next", "--format", "json").stdout
    )
    # bkt-v1 reads the same quiz answers differently: scores move, nobody is lost or added.
    assert compared["students"] == 15 and compared["score_delta"]["max_abs"] > 0.0
    assert "largest changes" in mastery(env, "generations", "compare", "main", "next").stdout

    refused = mastery(env, "generations", "drop", "main")
    assert refused.returncode == 1 and "is live" in refused.stderr
    promoted = mastery(env, "generations", "promote", "next")
    assert promoted.returncode == 0 and "was main" in promoted.stdout
    live = json.loads(mastery(env, "generations", "list", "--format", "json").stdout)
    assert [g["name"] for g in live if g["live"]] == ["next"]
    assert mastery(env, "generations", "promote", "main").returncode == 0
    dropped = mastery(env, "generations", "drop", "next")
    assert dropped.returncode == 0, dropped.stderr
    final = json.loads(mastery(env, "generations", "list", "--format", "json").stdout)
    assert [g["name"] for g in final] == ["main"]
