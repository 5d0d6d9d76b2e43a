from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import console, container
from api.cli.replay import _print_table
from infrastructure.ingest.backfill import backfill_file
from infrastructure.synthetic import CohortShape, cohort_events


def demo(
    students: Annotated[int, typer.Option(min=1, help="Students in the synthetic cohort.")] = 300,
    days: Annotated[int, typer.Option(min=1, max=365, help="Weeks of history, in days.")] = 42,
) -> None:
    """Generate a synthetic cohort, backfill it into the event store and replay one student."""
    with container() as built:
        data_dir = built.settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        cohort = _write_cohort(data_dir / "demo-cohort.jsonl", students, days)
        console.print(f"synthetic cohort of {students} students over {days} days: {cohort}")
        summary = backfill_file(built.ingest, cohort)
        counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.counts.items()))
        console.print(f"backfill: {counts}; event store position {summary.position}")
        student = "s00007"
        history = built.application.replay("demo", student, datetime.now(UTC).date())
        _print_table(history, datetime.now(UTC).date())
    console.print(
        "try: [bold]mastery replay s00042 --tenant demo[/] "
        "or [bold]mastery replay s00042 --tenant demo --format json[/]"
    )


def _write_cohort(path: Path, students: int, days: int) -> Path:
    end = datetime.now(UTC).date()
    events = list(
        cohort_events(CohortShape(students=students, days=days, end=end, tenant_id="demo"))
    )
    random.Random(1).shuffle(events)  # files arrive in no particular order
    with path.open("w", encoding="utf-8") as out:
        for event in events:
            out.write(json.dumps(event) + "\n")
    return path
