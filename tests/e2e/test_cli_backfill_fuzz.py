"""``mastery backfill`` of files full of generated hostile lines, as an operator runs it: the file
is never aborted, every line gets an outcome, every rejected line a reason, and the store is
intact afterwards."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path
from typing import Any

from infrastructure.bootstrap import build
from infrastructure.settings import Settings
from tests.e2e.test_cli_backfill import run
from tests.support import learning_event_rows, store_violations

TENANT = "t-fuzz"
HOSTILE_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    10**30,
    -(10**30),
    1e308,
    -1e-308,
    "",
    "\u0000",
    "\ufeff",
    "\u202e\u0301",
    "\U0001f600" * 50,
    "9" * 5000,
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "1969-12-31T23:59:59Z",
    [],
    {},
    [[[[]]]],
]


def nested(depth: int, kind: str) -> Any:
    value: Any = {} if kind == "object" else []
    for _ in range(depth - 1):
        value = {"n": value} if kind == "object" else [value]
    return value


def valid(index: int) -> dict[str, Any]:
    return {
        "event_id": f"v-{index}",
        "timestamp": f"2026-02-{1 + index % 28:02d}T10:00:00Z",
        "tenant_id": TENANT,
        "student_id": f"s{index % 7}",
        "component": "quiz",
        "topic": "sets",
        "data": {"total_questions": 10, "correct_answers": index % 11},
        "metadata": {"source": "fuzz"},
    }


def hostile(rng: random.Random, index: int) -> dict[str, Any]:
    event = valid(index)
    event["event_id"] = f"h-{index}"
    target = rng.choice([*event, "data", "metadata", "extra"])
    choice = rng.random()
    if choice < 0.3:
        value: Any = nested(
            rng.choice([16, 17, 100, 256, 300, 400]), rng.choice(["object", "array"])
        )
    else:
        value = rng.choice(HOSTILE_VALUES)
    if target in ("data", "metadata") and rng.random() < 0.5:
        event[target] = {**event[target], rng.choice(["correct_answers", "x", "n"]): value}
    else:
        event[target] = value
    return event


def test_a_jsonl_file_of_hostile_lines_gets_an_outcome_per_line(
    database_url: str, tmp_path: Path
) -> None:
    rng = random.Random(10)
    lines = []
    for index in range(400):
        lines.append(json.dumps(hostile(rng, index) if index % 4 else valid(index)))
    lines += ["[" * 2000 + "]" * 2000, '"\\ud800"', "1e400", "{" * 300, "\u00ff\u00fe"]
    source = tmp_path / "hostile.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = run(database_url, "backfill", str(source))

    assert result.returncode == 1, result.stderr  # some lines were rejected
    assert "Traceback" not in result.stdout + result.stderr
    recorded = learning_event_rows(database_url)
    rejects = [
        json.loads(line)
        for line in (tmp_path / "hostile.jsonl.rejects.jsonl").read_text().splitlines()
    ]
    assert all(r["errors"] and all(e["msg"] for e in r["errors"]) for r in rejects)
    assert recorded + len(rejects) == len(lines)
    assert not {r["event_id"] for r in rejects} & {f"v-{index}" for index in range(0, 400, 4)}
    assert recorded >= 100
    with build(Settings(database_url=database_url)) as built:
        assert store_violations(database_url, built.application) == []


def test_a_csv_file_of_hostile_cells_gets_an_outcome_per_row(
    database_url: str, tmp_path: Path
) -> None:
    rng = random.Random(11)
    columns = [
        "event_id",
        "timestamp",
        "tenant_id",
        "student_id",
        "component",
        "topic",
        "total_questions",
        "correct_answers",
        "attempts",
        "time_spent_seconds",
    ]
    cells = ["nan", "inf", "-inf", "1e400", "9" * 5000, "0x10", "1_000", " 7 ", "\u0000", "é"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    rows = 300
    for index in range(rows):
        row = [f"c-{index}", f"2026-02-{1 + index % 28:02d}T10:00:00Z", TENANT, "s1", "quiz", "t"]
        row += ["10", str(index % 11), "1", "3.5"]
        if index % 3:
            row[rng.randrange(len(row))] = rng.choice(cells)
        writer.writerow(row)
    source = tmp_path / "hostile.csv"
    source.write_text(out.getvalue() + '"unterminated,quote\n', encoding="utf-8")

    result = run(database_url, "backfill", str(source))

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    rejects = (tmp_path / "hostile.csv.rejects.jsonl").read_text().splitlines()
    assert all(json.loads(r)["errors"] for r in rejects)
    assert learning_event_rows(database_url) + len(rejects) == rows + 1
    assert learning_event_rows(database_url) >= rows // 3
