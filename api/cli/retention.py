from __future__ import annotations

from typing import Annotated

import typer

from api.cli.common import console, container
from infrastructure.compliance.retention import apply as apply_retention
from infrastructure.compliance.retention import plan

app = typer.Typer(help="Retention: erase idle students, purge old access-log entries.")


@app.command()
def apply(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would go.")] = False,
) -> None:
    """Erase students idle for MASTERY_RETENTION_DAYS and purge older access-log entries."""
    with container(redis=True) as built:
        database_url = built.settings.require_database_url()
        retention = plan(built.application, database_url, built.settings.retention_days)
        verb = "would erase" if dry_run else "erasing"
        for student in retention.students:
            last = student.last_event_at.date().isoformat()
            console.print(f"{verb} {student.tenant_id}/{student.student_id} (last activity {last})")
        verb = "would purge" if dry_run else "purging"
        before = f"{retention.cutoff:%Y-%m-%d}"
        console.print(f"{verb} {retention.access_log_entries} access-log entries before {before}")
        if not dry_run:
            erased = apply_retention(
                built.application,
                built.view,
                database_url,
                retention,
                generations=built.generation_views,
            )
            console.print(f"erased {erased} student(s)")
