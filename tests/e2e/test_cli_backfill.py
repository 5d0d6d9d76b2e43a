"""The ``mastery`` CLI as an operator runs it: a real process against a real PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from infrastructure.synthetic import CohortShape, cohort_events
from tests.support import count_rows, learning_event_rows, write_jsonl


def mastery(database_url: str, *args: str, **kwargs: object) -> subprocess.Popen[str]:
    env = dict(os.environ, MASTERY_DATABASE_URL=database_url, COLUMNS="200")
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli.main", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,  # type: ignore[call-overload]
    )


def run(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    process = mastery(database_url, *args)
    out, err = process.communicate(timeout=600)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


VALID = {
    "event_id": "ok-1",
    "timestamp": "2026-02-01T10:00:00Z",
    "tenant_id": "t-bad",
    "student_id": "alice",
    "component": "completion",
    "data": {"total_exercises": 10, "completed_exercises": 8},
}


def test_bad_lines_are_rejected_with_reasons_and_valid_lines_recorded(
    database_url: str, tmp_path: Path
) -> None:
    good = [dict(VALID, event_id=f"ok-{i}") for i in range(5)]
    bad_lines = {
        "invalid_json": '{"event_id": "broken", ',
        "wrong_type": json.dumps(
            dict(VALID, event_id="wt", data={"total_exercises": "ten", "completed_exercises": 1})
        ),
        "correct_gt_total": json.dumps(
            dict(
                VALID,
                event_id="q",
                component="quiz",
                data={"total_questions": 5, "correct_answers": 6},
            )
        ),
        "naive_timestamp": json.dumps(
            dict(VALID, event_id="naive", timestamp="2026-02-01T10:00:00")
        ),
        "unknown_component": json.dumps(dict(VALID, event_id="uc", component="attendance")),
        "colon_id": json.dumps(dict(VALID, event_id="a:b")),
        "star_id": json.dumps(dict(VALID, student_id="bob*")),
        "space_id": json.dumps(dict(VALID, event_id="has space")),
        "huge_line": json.dumps(dict(VALID, event_id="huge", metadata={"blob": "x" * 10_000_000})),
    }
    lines = (
        [json.dumps(e) for e in good[:3]]
        + list(bad_lines.values())
        + [json.dumps(e) for e in good[3:]]
    )
    source = tmp_path / "mixed.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = run(database_url, "backfill", str(source))

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "9 line(s)" in result.stdout
    rejects = [
        json.loads(line)
        for line in (tmp_path / "mixed.jsonl.rejects.jsonl").read_text().splitlines()
    ]
    assert [r["line"] for r in rejects] == list(range(4, 13))
    by_line = {r["line"]: r for r in rejects}
    assert by_line[4]["code"] == "invalid_json"
    assert by_line[5]["errors"][0]["loc"] == "data.total_exercises"
    assert "correct_answers must not exceed" in by_line[6]["errors"][0]["msg"]
    assert by_line[7]["errors"][0]["loc"] == "timestamp"
    assert by_line[8]["errors"][0]["loc"] == "component"
    assert by_line[9]["errors"][0]["loc"] == "event_id"
    assert by_line[10]["errors"][0]["loc"] == "student_id"
    assert by_line[11]["errors"][0]["loc"] == "event_id"
    assert by_line[12]["code"] == "too_large"
    assert all(r["raw"] for r in rejects)
    assert (
        count_rows(database_url, "SELECT count(*) FROM mastery_event_ids WHERE tenant_id = 't-bad'")
        == 5
    )


def test_csv_backfill_records_rows_and_rejects_bad_cells(database_url: str, tmp_path: Path) -> None:
    source = tmp_path / "events.csv"
    source.write_text(
        "event_id,timestamp,tenant_id,student_id,class_id,component,topic,total_questions,correct_answers,attempts,avg_code_quality,correctness,efficiency\n"
        "c1,2026-02-01T10:00:00Z,t-csv,carol,c-1,quiz,sets,10,9,2,,,\n"
        "c2,2026-02-02T10:00:00+02:00,t-csv,carol,c-1,quality,,,,,0.8,0.9,0.7\n"
        "c3,2026-02-02T10:00:00Z,t-csv,carol,c-1,quiz,sets,ten,9,,,,\n",
        encoding="utf-8",
    )
    result = run(database_url, "backfill", str(source))
    assert result.returncode == 1
    rejects = [
        json.loads(x) for x in (tmp_path / "events.csv.rejects.jsonl").read_text().splitlines()
    ]
    assert [(r["line"], r["errors"][0]["loc"]) for r in rejects] == [(4, "data.total_questions")]
    replay = run(
        database_url,
        "replay",
        "carol",
        "--tenant",
        "t-csv",
        "--as-of",
        "2026-02-02",
        "--format",
        "json",
    )
    assert replay.returncode == 0, replay.stderr
    document = json.loads(replay.stdout)
    assert [e["event_id"] for e in document["steps"]] == ["c1", "c2"]
    assert document["mastery"]["components"]["quiz"] == 0.81


def test_a_backfill_killed_midway_then_rerun_records_every_event_once(
    database_url: str, tmp_path: Path
) -> None:
    events = list(
        cohort_events(CohortShape(students=200, events=40_000, tenant_id="t-kill", seed=3))
    )
    source = write_jsonl(tmp_path / "big.jsonl", events)
    env = dict(os.environ, MASTERY_DATABASE_URL=database_url, MASTERY_INGEST_BATCH_SIZE="500")
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli.main", "backfill", str(source)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        recorded = count_rows(database_url, "SELECT count(*) FROM mastery_event_ids")
        if recorded >= 5_000:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = count_rows(database_url, "SELECT count(*) FROM mastery_event_ids")
    assert 0 < partial < 40_000, "the kill should land mid-backfill"

    rerun = run(database_url, "backfill", str(source))

    assert rerun.returncode == 0, rerun.stderr
    assert count_rows(database_url, "SELECT count(*) FROM mastery_event_ids") == 40_000
    assert learning_event_rows(database_url) == 40_000
    assert (
        count_rows(
            database_url,
            "SELECT count(*) FROM (SELECT originator_id FROM mastery_events "
            "GROUP BY originator_id HAVING max(originator_version) <> count(*)) AS gaps",
        )
        == 0
    )


def test_missing_file_and_bad_arguments_give_clear_messages(
    database_url: str, tmp_path: Path
) -> None:
    missing = run(database_url, "backfill", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2
    assert "no such file" in missing.stderr
    assert "Traceback" not in missing.stderr

    unknown = run(database_url, "replay", "nobody", "--tenant", "t-none")
    assert unknown.returncode == 1
    assert "no events recorded for student 'nobody'" in unknown.stderr

    bad_id = run(database_url, "replay", "x:y")
    assert bad_id.returncode == 2
    assert "student id must be" in bad_id.stderr

    bad_date = run(database_url, "replay", "x", "--as-of", "yesterday")
    assert bad_date.returncode == 2
