"""``mastery generations evaluate``: a real process against a real PostgreSQL, its events
ingested through ``mastery backfill`` (the real ingest path), its figures checked against the
pure scoreboard fed the same events, and by hand on a small case; then on a public
knowledge-tracing log when one is given (``MASTERY_KT_DATASET``, see
``tests/fixtures/knowledge_tracing.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from domain.mastery.formulas import BKT_V1, FORMULAS, SEED_V1
from domain.mastery.predictive_validity import Scoreboard
from tests.fixtures.knowledge_tracing import dataset_path, learning_events
from tests.support import facts_by_student, write_jsonl


def run(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MASTERY_DATABASE_URL=database_url, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "api.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


def quiz(
    event_id: str, student: str, minute: int, topic: str, correct: int, total: int = 1, **more: Any
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "timestamp": f"2026-02-01T10:{minute:02d}:00Z",
        "tenant_id": more.pop("tenant", "t-eval"),
        "student_id": student,
        "component": "quiz",
        "topic": topic,
        "data": {"total_questions": total, "correct_answers": correct, **more},
    }


def other(event_id: str, student: str, minute: int, component: str) -> dict[str, Any]:
    data = {
        "completion": {"total_exercises": 4, "completed_exercises": 3},
        "quality": {"avg_code_quality": 0.5, "correctness": 0.5, "efficiency": 0.5},
        "consistency": {},
    }[component]
    return {
        "event_id": event_id,
        "timestamp": f"2026-02-01T10:{minute:02d}:00Z",
        "tenant_id": "t-eval",
        "student_id": student,
        "component": component,
        "topic": "sql",
        "data": data,
    }


def evaluated(database_url: str, *args: str) -> dict[str, Any]:
    result = run(database_url, "generations", "evaluate", "--format", "json", *args)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def backfilled(database_url: str, path: Path) -> None:
    result = run(database_url, "backfill", str(path))
    assert result.returncode == 0, result.stderr


def test_a_small_history_by_hand(database_url: str, tmp_path: Path) -> None:
    # Ana: right, then wrong, on one topic; events arrive in reverse and a completion between.
    events = [
        quiz("a2", "ana", 2, "sql", 0),
        other("a1b", "ana", 1, "completion"),
        quiz("a1", "ana", 1, "sql", 1),
    ]
    backfilled(database_url, write_jsonl(tmp_path / "events.jsonl", events))

    document = evaluated(database_url)

    assert document["formulas"] == list(FORMULAS)
    assert (document["students"], document["quiz_events"]) == (1, 2)
    seed, bkt = document["overall"]["seed-v1"], document["overall"]["bkt-v1"]
    # seed-v1 predicted 0.5 for the right answer, then 1.0 for the wrong one: every pair
    # ranked the wrong way round
    assert seed == {
        "answers": 2,
        "correct": 1,
        "auc": 0.0,
        "rmse": pytest.approx(((0.5**2 + 1.0**2) / 2) ** 0.5, abs=1e-15),
        "auc_exact": True,
    }
    # bkt-v1: 0.41 from the prior, then p(1-S) + (1-p)G with p after one right answer
    p = 27 / 41 + 1.4 / 41
    second = p * 0.9 + (1 - p) * 0.2
    assert bkt["auc"] == 0.0
    assert bkt["rmse"] == pytest.approx((((1 - 0.41) ** 2 + second**2) / 2) ** 0.5, abs=1e-12)
    assert document["topics"] == {}  # 2 answers: below the per-topic threshold
    assert document["topics_too_small"] == 1


def test_evaluate_equals_the_pure_scoreboard_over_the_same_events(
    database_url: str, tmp_path: Path
) -> None:
    events = []
    for s in range(12):
        for i in range(30):
            topic = ("sql", "git", "loops")[(s + i) % 3]
            correct = (i * 7 + s * 3) % 5
            attempts = 1 + (i + s) % 4
            events.append(quiz(f"q{s}-{i}", f"st{s}", 59 - i, topic, correct, 4, attempts=attempts))
        events.append(other(f"c{s}", f"st{s}", 5, "completion"))
        events.append(other(f"m{s}", f"st{s}", 6, "consistency"))
    events.append(quiz("elsewhere", "zed", 1, "sql", 1, tenant="t-other"))
    backfilled(database_url, write_jsonl(tmp_path / "events.jsonl", events))

    document = evaluated(database_url, "--min-topic-answers", "50")

    board = Scoreboard([SEED_V1, BKT_V1])
    for facts in facts_by_student(events).values():
        board.add_history(facts)
    assert document == board.to_document(min_topic_answers=50)
    assert set(document["topics"]) == {"sql", "git", "loops"}
    assert 0.0 <= document["overall"]["bkt-v1"]["auc"] <= 1.0

    only_bkt = evaluated(database_url, "--formula", "bkt-v1", "--tenant", "t-other")
    assert only_bkt["formulas"] == ["bkt-v1"]
    assert (only_bkt["students"], only_bkt["overall"]["bkt-v1"]["answers"]) == (1, 1)

    table = run(database_url, "generations", "evaluate")
    assert table.returncode == 0, table.stderr
    assert "seed-v1" in table.stdout and "bkt-v1" in table.stdout
    assert "13 students" in table.stdout


def test_an_unknown_formula_is_a_usage_error(database_url: str) -> None:
    result = run(database_url, "generations", "evaluate", "--formula", "nope-v9")
    assert result.returncode == 2
    assert "unknown formula 'nope-v9'" in result.stderr
    assert "bkt-v1" in result.stderr


def test_an_empty_store_evaluates_to_no_answers(database_url: str) -> None:
    document = evaluated(database_url)
    assert document["students"] == 0
    assert document["overall"]["bkt-v1"] == {
        "answers": 0,
        "correct": 0,
        "auc": None,
        "rmse": None,
        "auc_exact": True,
    }


def _real_data(database_url: str, tmp_path: Path, max_students: int | None) -> dict[str, Any]:
    path = dataset_path()
    if path is None:
        pytest.skip("set MASTERY_KT_DATASET to a knowledge-tracing log (see tests/fixtures)")
    events = list(learning_events(path, max_students=max_students))
    backfilled(database_url, write_jsonl(tmp_path / "kt.jsonl", events))
    document = evaluated(database_url)
    board = Scoreboard(list(FORMULAS.values()))
    for facts in facts_by_student(events).values():
        board.add_history(facts)
    assert document == board.to_document()
    for name in FORMULAS:
        score = document["overall"][name]
        assert score["answers"] == len(events)
        # a real log is predictable from its own past, by either formula, far above chance
        assert score["auc"] > 0.65, (name, score)
        assert score["rmse"] < 0.47, (name, score)
    print(json.dumps(document["overall"], indent=2))
    return document


def test_evaluate_on_a_public_knowledge_tracing_log(database_url: str, tmp_path: Path) -> None:
    _real_data(database_url, tmp_path, max_students=150)


@pytest.mark.slow
def test_evaluate_on_the_whole_public_knowledge_tracing_log(
    database_url: str, tmp_path: Path
) -> None:
    document = _real_data(database_url, tmp_path, max_students=None)
    assert len(document["topics"]) > 10
