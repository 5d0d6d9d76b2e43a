"""Ingest throughput: `mastery backfill`'s path against the bare eventsourcing library.

Measured in one run, each into an empty database of the same server, durable commits on:
  * mastery   — backfill of a JSONL file of N events over S students through the shared ingest
                path (validation, idempotency ledger, batching, optimistic concurrency);
  * bare_1    — the bare library saving one event per save() call (baseline a);
  * bare_100  — the bare library saving 100 distinct aggregates per save() call (baseline b;
                a student seen again adds another event to its aggregate, not a flush).
The backfill is also run in one process, and with per-student encryption on (a master key),
to show what each costs. The baselines are timed on a prefix of the same events (they are
slow by design); rates are events per second. Writes bench/results/ingest.json.

Usage: python bench/ingest.py [--events 200000] [--students 5000] [--baseline-events 20000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.common import fresh_database, machine, postgres_server, server_facts, write_result
from infrastructure.bootstrap import build
from infrastructure.event_store.keys import MasterKey
from infrastructure.ingest.backfill import backfill_file
from infrastructure.ingest.parallel import parallel_backfill
from infrastructure.migrate import upgrade
from infrastructure.settings import Settings, database_parts
from infrastructure.synthetic import CohortShape, cohort_events


class BareStudent(Aggregate):
    @event("Enrolled")
    def __init__(self, tenant_id: str, student_id: str) -> None:
        self.tenant_id = tenant_id
        self.student_id = student_id

    @event("LearningEventRecorded")
    def record(self, payload: dict[str, Any]) -> None:
        pass


class BareApplication(Application):
    name = "Bare"


def bare_application(url: str) -> BareApplication:
    parts = database_parts(url)
    return BareApplication(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_HOST": parts.host,
            "POSTGRES_PORT": str(parts.port),
            "POSTGRES_USER": parts.user,
            "POSTGRES_PASSWORD": parts.password,
            "POSTGRES_DBNAME": parts.dbname,
            "CREATE_TABLE": "y",
        }
    )


def run_bare(url: str, events: list[dict[str, Any]], per_save: int) -> float:
    app = bare_application(url)
    students: dict[tuple[str, str], BareStudent] = {}
    started = time.perf_counter()
    pending: dict[UUID, BareStudent] = {}
    for raw in events:
        key = (str(raw["tenant_id"]), str(raw["student_id"]))
        student = students.get(key)
        if student is None:
            student = students[key] = BareStudent(*key)
        student.record(raw)  # a student seen again adds another event to its pending ones
        pending[student.id] = student
        if len(pending) >= per_save:
            app.save(*pending.values())
            pending = {}
    if pending:
        app.save(*pending.values())
    elapsed = time.perf_counter() - started
    app.close()
    return len(events) / elapsed


def run_mastery(
    url: str, source: Path, count: int, workers: int, master_key: str | None = None
) -> dict[str, Any]:
    """`mastery backfill`'s own code path: partitioned workers (or one process)."""
    upgrade(url)
    settings = Settings(database_url=url, master_key=master_key)

    def backfill() -> tuple[float, Counter[str]]:
        started = time.perf_counter()
        if workers > 1:
            summary = parallel_backfill(
                settings, source, source.with_suffix(".rejects"), workers=workers
            )
        else:
            with build(settings) as built:
                summary = backfill_file(built.ingest, source, source.with_suffix(".rejects"))
        return time.perf_counter() - started, summary.counts

    elapsed, counts = backfill()
    assert counts == {"recorded": count}, counts
    rerun, again = backfill()
    assert again == {"duplicate": count}, again
    return {
        "workers": workers,
        "events_per_second": count / elapsed,
        "seconds": elapsed,
        "rerun_all_duplicates_events_per_second": count / rerun,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--students", type=int, default=5_000)
    parser.add_argument("--baseline-events", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2, help="backfill worker processes")
    args = parser.parse_args()

    events = list(
        cohort_events(
            CohortShape(students=args.students, events=args.events, days=60, tenant_id="bench")
        )
    )
    baseline = events[: args.baseline_events]
    with tempfile.TemporaryDirectory() as folder, postgres_server() as server:
        source = Path(folder) / "bench.jsonl"
        with source.open("w", encoding="utf-8") as out:
            for item in events:
                out.write(json.dumps(item) + "\n")
        with fresh_database(server, "mastery") as url:
            facts = server_facts(url)
            mastery = run_mastery(url, source, len(events), args.workers)
        with fresh_database(server, "mastery1") as url:
            single = run_mastery(url, source, len(events), 1)
        with fresh_database(server, "encrypted") as url:
            encrypted = run_mastery(url, source, len(events), args.workers, MasterKey.generate())
        with fresh_database(server, "bare1") as url:
            bare_1 = run_bare(url, baseline, per_save=1)
        with fresh_database(server, "bare100") as url:
            bare_100 = run_bare(url, baseline, per_save=100)

    result = {
        "benchmark": "ingest",
        "events": len(events),
        "students": args.students,
        "baseline_events": len(baseline),
        "server": facts,
        "machine": machine(),
        "mastery_backfill": mastery,
        "mastery_backfill_single_process": single,
        "mastery_backfill_encrypted": encrypted,
        "encryption_cost": 1 - encrypted["events_per_second"] / mastery["events_per_second"],
        "bare_library_one_event_per_save": {"events_per_second": bare_1},
        "bare_library_100_aggregates_per_save": {"events_per_second": bare_100},
        "speedup_vs_one_per_save": mastery["events_per_second"] / bare_1,
        "speedup_vs_100_per_save": mastery["events_per_second"] / bare_100,
        "target": {
            "events_per_second": 10_000,
            "speedup_vs_one_per_save": 10,
            "encryption_cost_below": 0.25,
        },
    }
    path = write_result("ingest", result)
    print(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
