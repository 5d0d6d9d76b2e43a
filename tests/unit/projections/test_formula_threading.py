"""A formula other than seed-v1 through the read side: the projection's documents, incremental
batches with late events, replays, the queries' replay fallback, carry-forward and the
read-model check all compute with the formula they are given, and say so in ``formula``."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

from eventsourcing.persistence import Tracking
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.facts import Component
from domain.mastery import carried_forward, daily_masteries, mastery_as_of, mastery_from_document
from domain.mastery.formulas import BKT_V1, SEED_V1
from projections.compare import differences, expected_update
from projections.mastery_projection import (
    MasteryProjection,
    StudentHistory,
    histories_from,
    student_update,
)
from projections.memory_view import InMemoryMasteryView
from projections.queries import REPLAY, StudentQueries
from projections.view import PROJECTION_NAME, StudentKey
from tests.unit.projections.recorded import InMemoryStudentEvents, Learning, learning
from tests.unit.projections.test_mastery_projection import facts_of

ALICE = StudentKey("t-one", "alice")
D0 = date(2026, 3, 1)

quiz_events = st.lists(
    st.tuples(
        st.integers(0, 6),  # day
        st.integers(0, 23),  # hour
        st.sampled_from(["loops", "sql"]),
        st.integers(1, 30).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
        st.sampled_from([Component.QUIZ, Component.QUIZ, Component.COMPLETION]),
    ),
    min_size=1,
    max_size=25,
)


def events_of(drawn: list[tuple[int, int, str, tuple[int, int], Component]]) -> list[Learning]:
    made = []
    for index, (day, hour, topic, (k, n), component) in enumerate(drawn):
        data = (
            {"total_questions": n, "correct_answers": k}
            if component is Component.QUIZ
            else {"total_exercises": n, "completed_exercises": k}
        )
        moment = datetime.combine(D0 + timedelta(days=day), time(hour), tzinfo=UTC)
        made.append(Learning(f"e{index:03d}", moment, component, data, topic=topic))
    return made


@settings(max_examples=60, deadline=None)
@given(quiz_events)
def test_bkt_documents_from_histories_equal_the_formula_applied_directly(
    drawn: list[tuple[int, int, str, tuple[int, int], Component]],
) -> None:
    store = InMemoryStudentEvents()
    store.record(ALICE, *events_of(drawn))
    (history,) = histories_from(store.notifications, BKT_V1).values()
    update = student_update(history)

    facts = facts_of(store.notifications)
    daily = daily_masteries(facts, formula=BKT_V1)
    assert set(update.snapshots) == set(daily)
    for day, mastery in daily.items():
        expected = mastery.to_document(with_topics=False, exact=True)
        assert {k: v for k, v in update.snapshots[day].items() if k in expected} == expected
    assert update.current["formula"] == "bkt-v1"
    assert all(doc["formula"] == "bkt-v1" for doc in update.snapshots.values())
    assert update.current["components"]["quiz"] == round(
        mastery_as_of(facts, max(daily), BKT_V1).components.quiz, 3
    )


@settings(max_examples=40, deadline=None)
@given(quiz_events, st.randoms(use_true_random=False))
def test_incremental_batches_with_late_events_equal_a_rebuild_under_bkt(
    drawn: list[tuple[int, int, str, tuple[int, int], Component]], rng: random.Random
) -> None:
    events = events_of(drawn)
    rng.shuffle(events)  # arrival order: late events land in earlier dates
    store, view = InMemoryStudentEvents(), InMemoryMasteryView()
    histories: dict[UUID, StudentHistory] = {}
    projection = MasteryProjection(BKT_V1)
    cut = rng.randint(0, len(events))
    for batch in (events[:cut], events[cut:]):
        if not batch:
            continue
        notifications = store.record(ALICE, *batch)
        updates = projection.process(histories, notifications)
        view.apply(updates, Tracking(PROJECTION_NAME, notifications[-1][0]))

    (rebuilt,) = [student_update(h) for h in histories_from(store.notifications, BKT_V1).values()]
    assert view.current(ALICE) == rebuilt.current
    assert view.snapshots(ALICE, list(rebuilt.snapshots)) == rebuilt.snapshots
    assert rebuilt.current["formula"] == "bkt-v1"


def test_a_history_made_without_a_formula_is_seed_v1() -> None:
    history = StudentHistory(ALICE)
    assert history.formula is SEED_V1
    assert history.daily.formula is SEED_V1
    assert StudentHistory(ALICE, BKT_V1).daily.formula is BKT_V1


def test_replays_compute_with_their_formula() -> None:
    store = InMemoryStudentEvents()
    store.record(
        ALICE,
        learning("e1", D0, Component.QUIZ, total_questions=4, correct_answers=1),
        learning("e2", D0 + timedelta(days=1), Component.QUIZ, correct_answers=10),
    )
    replay = store.replay(ALICE.tenant_id, ALICE.student_id, date.max)
    under_bkt = replay.under(BKT_V1)
    assert replay.under(SEED_V1) is replay
    facts = [e.fact for e in replay.events]

    last = D0 + timedelta(days=1)
    mastery = under_bkt.mastery()
    assert mastery is not None
    assert mastery.to_document() == mastery_as_of(facts, date.max, BKT_V1).to_document()
    rows = list(under_bkt.steps())
    assert rows[-1][1].score == mastery_as_of(facts, last, BKT_V1).score
    page, _ = under_bkt.timeline_page(None, 10)
    assert [d["mastery_score"] for d in page] == [round(s.score, 3) for _, s in rows]
    seed_page, _ = replay.timeline_page(None, 10)
    assert page[-1]["mastery_score"] != seed_page[-1]["mastery_score"]

    later = learning("e3", last, Component.QUIZ, hour=12, correct_answers=0)
    store.record(ALICE, later)
    extended = under_bkt.extended([store.notifications[-1][1]])
    assert extended.formula is BKT_V1
    assert extended.timeline_page(None, 10)[0][-1]["mastery_score"] == round(
        mastery_as_of(facts_of(store.notifications), last, BKT_V1).score, 3
    )


def test_the_queries_replay_fallback_uses_their_formula() -> None:
    store, view = InMemoryStudentEvents(), InMemoryMasteryView()
    store.record(ALICE, learning("e1", D0, Component.QUIZ, correct_answers=2))
    queries = StudentQueries(
        view, store, snapshot_ttl_days=0, today=lambda: D0 + timedelta(days=2), formula=BKT_V1
    )
    read = queries.mastery(ALICE, D0)  # no read model: replayed
    assert read.source == REPLAY
    facts = facts_of(store.notifications)
    assert read.mastery.to_document() == mastery_as_of(facts, D0, BKT_V1).to_document()
    assert queries.latest(ALICE).mastery.formula == "bkt-v1"
    assert [m.formula for m in queries.history(ALICE, D0, D0)] == ["bkt-v1"]
    assert queries.timeline(ALICE).formula is BKT_V1
    assert StudentQueries(view, store, snapshot_ttl_days=0).formula is SEED_V1


def test_carrying_a_document_forward_keeps_its_formula() -> None:
    store = InMemoryStudentEvents()
    store.record(ALICE, learning("e1", D0, Component.QUIZ, correct_answers=3))
    (history,) = histories_from(store.notifications, BKT_V1).values()
    current = student_update(history).current
    read_back = mastery_from_document(current)
    assert read_back.formula == "bkt-v1"
    assert carried_forward(read_back, D0 + timedelta(days=5)).formula == "bkt-v1"


def test_the_read_model_check_expects_the_generation_formula() -> None:
    store = InMemoryStudentEvents()
    store.record(ALICE, learning("e1", D0, Component.QUIZ, correct_answers=3))
    recorded = list(store.learning_events(ALICE.tenant_id, ALICE.student_id))
    bkt = expected_update(ALICE, recorded, BKT_V1)
    seed = expected_update(ALICE, recorded)
    assert differences(bkt, bkt.current, bkt.snapshots) == []
    found = {d.field for d in differences(bkt, seed.current, seed.snapshots)}
    assert {"formula", "components.quiz", "mastery_score"} <= found
