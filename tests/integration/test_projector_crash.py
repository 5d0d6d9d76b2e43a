"""A projector killed with SIGKILL at random moments ends where a clean rebuild ends (issue 3)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace

from infrastructure.bootstrap import Container, build
from infrastructure.settings import Settings
from infrastructure.synthetic import CohortShape, cohort_events
from projections.view import StudentKey

KILLS = 20
EVENTS = 50_000


def start_projector(settings: Settings) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        MASTERY_DATABASE_URL=str(settings.database_url),
        MASTERY_REDIS_URL=str(settings.redis_url),
        MASTERY_REDIS_CLUSTER=str(settings.redis_cluster).lower(),
        MASTERY_REDIS_PREFIX=settings.redis_prefix,
        MASTERY_SNAPSHOT_TTL_DAYS="0",
        MASTERY_PROJECTION_BATCH_SIZE="1000",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli.main", "project"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def everything(container: Container, tenant: str, students: list[str]) -> dict[str, object]:
    documents: dict[str, object] = {}
    for student in students:
        key = StudentKey(tenant, student)
        dates = container.view.activity_dates(key)
        documents[student] = (container.view.current(key), container.view.snapshots(key, dates))
    documents["roster"] = container.view.tenant_roster(tenant)
    return documents


def test_a_projector_killed_twenty_times_ends_identical_to_a_clean_rebuild(
    full_settings: Settings,
) -> None:
    events = list(
        cohort_events(CohortShape(students=300, events=EVENTS, days=40, tenant_id="crash", seed=4))
    )
    random.Random(2).shuffle(events)
    rng = random.Random(13)
    done = threading.Event()

    def stream() -> None:
        with build(full_settings) as writer:
            for start in range(0, len(events), 250):
                writer.ingest.ingest(events[start : start + 250])
                time.sleep(0.1)  # a steady stream that lasts about as long as the kills
        done.set()

    feeder = threading.Thread(target=stream)
    feeder.start()
    kills = behind = 0
    observer = build(full_settings)
    watching = observer.__enter__()
    projector = start_projector(full_settings)
    try:
        while kills < KILLS:
            time.sleep(rng.uniform(1.2, 2.5))
            projector.send_signal(signal.SIGKILL)
            projector.wait()
            kills += 1
            position, head = watching.projector.position(), watching.application.head()
            behind += position < head  # killed with work in hand
            projector = start_projector(full_settings)
        done.wait(timeout=300)
    finally:
        feeder.join(timeout=300)
        projector.send_signal(signal.SIGKILL)
        projector.wait()
        observer.__exit__(None, None, None)
    assert kills == KILLS and done.is_set()
    assert behind >= KILLS // 2, f"only {behind} kills hit a projector with work in hand"

    students = sorted({str(e["student_id"]) for e in events})
    with build(full_settings) as crashed:
        crashed.projector.catch_up()
        survived = everything(crashed, "crash", students)
        head = crashed.application.head()
        assert crashed.projector.position() == head
    with build(replace(full_settings, redis_prefix=full_settings.redis_prefix + "clean:")) as clean:
        clean.projector.rebuild()
        assert everything(clean, "crash", students) == survived
