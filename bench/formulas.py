"""The formulas' pure computation: daily snapshots (what a rebuild computes per student) and
replay steps, in facts per CPU second, for seed-v1 and bkt-v1 of this tree, against seed-v1 of a
baseline source tree (e.g. an export of main: is seed-v1's path as fast as before?), all in
the same run on the same synthetic cohort. Each variant runs in a process of its own, the
variants taking turns for ``--rounds`` rounds; the best of all passes is kept. CPU time, not
wall time: the work is CPU-bound and single-threaded, and on a shared machine wall time mostly
measures the neighbours. Writes bench/results/formulas.json.

Usage: python bench/formulas.py [--students 300] [--days 60] [--rounds 3] [--repeat 2]
                                [--baseline-tree DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent


def measure(students: int, days: int, repeat: int, formula_name: str | None) -> dict[str, Any]:
    """Best of ``repeat`` passes over every student."""
    # Imported here, not at the top: from whichever source tree the caller put first on the
    # path (this one, or the baseline's).
    from domain.facts import LearningFact, evidence_from_data
    from domain.mastery import daily_masteries, replay_steps
    from infrastructure.ingest.contract import validate_event
    from infrastructure.synthetic import CohortShape, cohort_events

    now = datetime.now(UTC)
    by_student: dict[str, list[LearningFact]] = {}
    for raw in cohort_events(CohortShape(students=students, days=days, tenant_id="bench")):
        event = validate_event(raw, now)
        fact = LearningFact(
            event.event_id,
            event.occurred_at,
            event.topic,
            evidence_from_data(event.component, event.data),
        )
        by_student.setdefault(event.student_id, []).append(fact)
    count = sum(len(facts) for facts in by_student.values())
    extra: dict[str, Any] = {}
    if formula_name is not None:
        from domain.mastery.formulas import formula_named  # a baseline tree may have none

        extra["formula"] = formula_named(formula_name)

    def daily() -> None:
        for facts in by_student.values():
            daily_masteries(facts, **extra)

    def steps() -> None:
        for facts in by_student.values():
            for _ in replay_steps(facts, **extra):
                pass

    result: dict[str, Any] = {"facts": count, "students": len(by_student)}
    for name, run in (("daily_snapshots", daily), ("replay_steps", steps)):
        best = min(_timed(run) for _ in range(repeat))
        result[name] = {"seconds": round(best, 4), "facts_per_second": round(count / best)}
    return result


def _timed(run: Any) -> float:
    start = time.process_time()
    run()
    return time.process_time() - start


def in_tree(
    tree: Path, formula: str | None, students: int, days: int, repeat: int
) -> dict[str, Any]:
    """A measurement by ``tree``'s code (``formula`` None: its default, seed-v1), in a process
    of its own."""
    command = [sys.executable, __file__, "--measure-in", str(tree)]
    command += ["--students", str(students), "--days", str(days), "--repeat", str(repeat)]
    if formula is not None:
        command += ["--formula", formula]
    completed = subprocess.run(command, capture_output=True, text=True, check=True)
    measured: dict[str, Any] = json.loads(completed.stdout)
    return measured


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    kept = dict(runs[0])
    for metric in ("daily_snapshots", "replay_steps"):
        kept[metric] = min((r[metric] for r in runs), key=lambda m: m["seconds"])
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--formula", help=argparse.SUPPRESS)
    parser.add_argument("--baseline-tree", type=Path, help="source tree of the baseline")
    parser.add_argument("--measure-in", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_in is not None:
        sys.path.insert(0, str(args.measure_in.resolve()))
        print(json.dumps(measure(args.students, args.days, args.repeat, args.formula)))
        return
    sys.path.insert(0, str(HERE))
    from bench.common import machine, write_result  # importable once HERE is on the path

    variants: dict[str, tuple[Path, str | None]] = {
        "seed-v1": (HERE, None),
        "bkt-v1": (HERE, "bkt-v1"),
    }
    if args.baseline_tree is not None:
        variants["baseline seed-v1"] = (args.baseline_tree.resolve(), None)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, (tree, formula) in variants.items():
            runs[name].append(in_tree(tree, formula, args.students, args.days, args.repeat))
    result: dict[str, Any] = {
        "benchmark": "formulas",
        "machine": machine(),
        "clock": "process CPU time",
        "students": args.students,
        "days": args.days,
        **{name: best(measured) for name, measured in runs.items()},
    }
    path = write_result("formulas", result)
    print(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
