"""A large backfill, replayed, gives exactly what the pure formula gives (issue 2 acceptance)."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import pytest

from domain.mastery import mastery_as_of, timeline
from infrastructure.bootstrap import build
from infrastructure.ingest.backfill import backfill_file
from infrastructure.settings import Settings
from infrastructure.synthetic import CohortShape, cohort_events
from tests.support import facts_by_student, learning_event_rows, write_jsonl

AS_OF = date(2026, 11, 25)
SHAPE = CohortShape(students=400, events=50_000, days=60, tenant_id="bulk", seed=11)


@pytest.fixture(scope="module")
def cohort() -> list[dict[str, object]]:
    return list(cohort_events(SHAPE))


def test_backfill_then_replay_matches_the_pure_formula(
    settings: Settings, tmp_path: Path, cohort: list[dict[str, object]]
) -> None:
    source = write_jsonl(tmp_path / "cohort.jsonl", cohort)
    expected = facts_by_student(cohort)
    sample = random.Random(3).sample(sorted(expected), 8)

    with build(settings) as built:
        first = backfill_file(built.ingest, source)
        assert first.counts == {"recorded": 50_000}
        assert first.position is not None

        for tenant, student in sample:
            replay = built.application.replay(tenant, student, AS_OF)
            pure = timeline(expected[(tenant, student)])
            replayed = [(e.event_id, s.mastery) for e, s in replay.steps(full=True)]
            assert replayed == [(f.event_id, m) for f, m in pure]
            assert replay.mastery() == mastery_as_of(expected[(tenant, student)], AS_OF)
            aggregate = built.application.student(tenant, student)
            assert aggregate.mastery(AS_OF) == replay.mastery()

        again = backfill_file(built.ingest, source)
        assert again.counts == {"duplicate": 50_000}
        assert again.position is None
    assert learning_event_rows(settings.require_database_url()) == 50_000


def test_shuffled_file_in_a_fresh_tenant_replays_identically(
    settings: Settings, tmp_path: Path, cohort: list[dict[str, object]]
) -> None:
    subset = [e for e in cohort if int(str(e["student_id"])[1:]) % 10 == 0]
    in_order = write_jsonl(tmp_path / "in-order.jsonl", subset)
    shuffled_events = [dict(e, tenant_id="bulk-shuffled") for e in subset]
    random.Random(5).shuffle(shuffled_events)
    shuffled = write_jsonl(tmp_path / "shuffled.jsonl", shuffled_events)

    with build(settings) as built:
        assert backfill_file(built.ingest, in_order).counts["recorded"] == len(subset)
        assert backfill_file(built.ingest, shuffled).counts["recorded"] == len(subset)
        students = sorted({str(e["student_id"]) for e in subset})
        for student in students[:10]:
            ordered = built.application.replay("bulk", student, AS_OF)
            disordered = built.application.replay("bulk-shuffled", student, AS_OF)
            assert [(e.event_id, s) for e, s in ordered.steps(full=True)] == [
                (e.event_id, s) for e, s in disordered.steps(full=True)
            ]
            assert ordered.mastery() == disordered.mastery()
