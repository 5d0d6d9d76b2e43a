from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import (
    base_url,
    check_api,
    container,
    dashboard_link,
    logging_level,
    print_unwrapped,
    reported_errors,
)
from infrastructure.auth.policy import Role
from infrastructure.auth.tokens import mint_token
from infrastructure.ingest.backfill import backfill_file
from infrastructure.local_secrets import with_demo_secrets
from infrastructure.runtime.logging import configure_logging
from infrastructure.settings import Settings
from infrastructure.synthetic import CohortShape, cohort_events

DEMO_TENANT = "demo"
DEMO_STUDENT = "s00007"
DEMO_CLASS = "class-07"


def demo(
    students: Annotated[
        int, typer.Option(min=1, metavar="N", help="Students in the synthetic cohort.")
    ] = 300,
    days: Annotated[
        int,
        typer.Option(
            min=1,
            max=365,
            metavar="DAYS",
            help="Days of history to generate, ending today (42: six weeks).",
        ),
    ] = 42,
    serve: Annotated[
        bool, typer.Option(help="Serve the API (with projector and Kafka) until Ctrl-C.")
    ] = True,
    port: Annotated[
        int | None, typer.Option(metavar="PORT", help="API port (MASTERY_HTTP_PORT).")
    ] = None,
    log_level: Annotated[
        str,
        typer.Option(
            parser=logging_level,
            metavar="LEVEL",
            help="Log level of the JSON log lines on stderr (info: every request, and each "
            "worker's stats every 10 s).",
        ),
    ] = "warning",
) -> None:
    """Start everything (embedded where no URL is set), load a synthetic cohort, serve the API
    and print URLs and ready-to-use tokens."""
    with reported_errors():
        settings = with_demo_secrets(Settings.from_env())
        if serve:
            check_api(settings, None, port)
    with container(redis=True, kafka=serve, settings=settings) as built:
        configure_logging(log_level)  # one format; quiet by default: the banner is the output
        built.settings.data_dir.mkdir(parents=True, exist_ok=True)
        cohort = _write_cohort(built.settings.data_dir / "demo-cohort.jsonl", students, days)
        print_unwrapped(f"synthetic cohort of {students} students over {days} days: {cohort}")
        summary = backfill_file(built.ingest, cohort)
        counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.counts.items()))
        print_unwrapped(f"backfill: {counts}")
        position = built.projector.catch_up()
        print_unwrapped(f"read models projected up to event store position {position}")
        _print_access(built.settings, port)
        if serve:
            from api.cli.run import serve_everything  # noqa: PLC0415 - imports the web stack

            serve_everything(built, None, port)


def _print_access(settings: Settings, port: int | None) -> None:
    """URLs and tokens, printed whole (never wrapped: they are copied and pasted)."""
    base = base_url(settings.http_host, port or settings.http_port)
    assert settings.jwt_secret is not None

    def token(role: Role, subject: str, classes: tuple[str, ...] = ()) -> str:
        return mint_token(
            role=role,
            subject=subject,
            tenant_id=DEMO_TENANT,
            key=settings.jwt_secret,
            classes=classes,
            ttl=timedelta(hours=12),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )

    tokens = (
        ("admin", token(Role.ADMIN, "demo-admin")),
        (f"teacher of {DEMO_CLASS}", token(Role.TEACHER, "demo-teacher", (DEMO_CLASS,))),
        (f"student {DEMO_STUDENT}", token(Role.STUDENT, DEMO_STUDENT)),
        ("service (ingest)", token(Role.SERVICE, "demo-agent")),
    )
    lines = [
        "",
        f"API            {base}/v1",
        f"OpenAPI        {base}/openapi.json",
        f"metrics        {base}/metrics",
        f"PostgreSQL     {settings.database_url}",
        f"Redis          {settings.redis_url}",
    ]
    if settings.kafka_bootstrap_servers:
        topic = settings.kafka_requests_topic
        lines.append(f"Kafka          {settings.kafka_bootstrap_servers} (topic {topic})")
    lines += ["", "dashboard (valid 12 h, tenant 'demo'):"]
    lines += [f"  {label}:\n    {dashboard_link(base, value)}" for label, value in tokens[:3]]
    lines += ["", "tokens (valid 12 h, tenant 'demo'):"]
    lines += [f"  {label}:\n    {value}" for label, value in tokens]
    lines += [
        "",
        f'try:  curl -H "Authorization: Bearer <student token>" '
        f"{base}/v1/students/{DEMO_STUDENT}/mastery",
    ]
    print_unwrapped("\n".join(lines))


def _write_cohort(path: Path, students: int, days: int) -> Path:
    end = datetime.now(UTC).date()
    # Timestamps follow today's date, so the ids carry it too: a demo re-run on the same day
    # finds only duplicates, a run on a later day adds a new history instead of conflicts.
    shape = CohortShape(
        students=students, days=days, end=end, tenant_id=DEMO_TENANT, id_prefix=f"demo{end:%Y%m%d}"
    )
    events = list(cohort_events(shape))
    random.Random(1).shuffle(events)  # files arrive in no particular order
    with path.open("w", encoding="utf-8") as out:
        for event in events:
            out.write(json.dumps(event) + "\n")
    return path
