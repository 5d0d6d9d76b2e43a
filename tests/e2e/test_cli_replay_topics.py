"""``mastery replay --format json`` shows every topic with its evidence, activity markers
included (SPEC §4, §5): a real process against a real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support import write_jsonl


def run(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MASTERY_DATABASE_URL=database_url, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "api.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def learning_event(event_id: str, day: int, component: str, topic: str) -> dict[str, Any]:
    data = {"quiz": {"total_questions": 10, "correct_answers": 9}, "consistency": {}}[component]
    return {
        "event_id": event_id,
        "timestamp": f"2026-02-0{day}T10:00:00Z",
        "tenant_id": "t-topics",
        "student_id": "dora",
        "component": component,
        "topic": topic,
        "data": data,
    }


def test_replay_lists_a_topic_with_only_activity_markers_and_its_evidence(
    database_url: str, tmp_path: Path
) -> None:
    source = write_jsonl(
        tmp_path / "events.jsonl",
        [
            learning_event("q1", 1, "quiz", "sql"),
            learning_event("m1", 1, "consistency", "git"),
            learning_event("m2", 2, "consistency", "git"),
        ],
    )
    assert run(database_url, "backfill", str(source)).returncode == 0

    replay = run(
        database_url,
        "replay",
        "dora",
        "--tenant",
        "t-topics",
        "--as-of",
        "2026-02-02",
        "--format",
        "json",
    )

    assert replay.returncode == 0, replay.stderr
    final = json.loads(replay.stdout)["mastery"]
    assert final["topics"]["git"] == {
        "mastery_score": 0.1,
        "level": "beginner",
        "components": {"completion": 0.0, "quiz": 0.0, "quality": 0.0, "consistency": 1.0},
        "evidence": {"completion": 0, "quiz": 0, "quality": 0, "consistency": 2},
    }
    assert final["topics"]["sql"]["evidence"] == {
        "completion": 0,
        "quiz": 1,
        "quality": 0,
        "consistency": 0,
    }
    assert {"action": "practice", "area": "topic:git", "priority": "high"} in final[
        "recommendations"
    ]
