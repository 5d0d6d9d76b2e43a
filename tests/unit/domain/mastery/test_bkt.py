"""Formula ``bkt-v1`` (SPEC §4): Bayesian Knowledge Tracing of the quiz component, against
hand-computed cases, extreme evidence, and the properties every formula keeps (order
independence, bounds, everything but quiz as in ``seed-v1``)."""

from __future__ import annotations

import math
import random
from datetime import date
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.facts import LearningFact, QuizEvidence
from domain.mastery import MasteryLedger, daily_masteries, mastery_as_of, step_key, timeline
from domain.mastery.formulas import BKT_V1, FORMULAS, SEED_V1, formula_named
from domain.mastery.knowledge_tracing import BKT_V1_PARAMETERS, KnowledgeTracing, KnowledgeTrack
from domain.mastery.rules import FORMULA
from tests.unit.domain.test_mastery import (
    at,
    completion,
    day,
    fact_lists,
    quality,
    quiz,
)

P0, S, G, T = Fraction(3, 10), Fraction(1, 10), Fraction(2, 10), Fraction(1, 10)


def exact_update(p: Fraction, correct: int, total: int) -> Fraction:
    """SPEC §4's update, in exact rationals (the reference the log-space code is held to)."""
    a = p * (1 - S) ** correct * S ** (total - correct)
    b = (1 - p) * G**correct * (1 - G) ** (total - correct)
    posterior = a / (a + b)
    return posterior + (1 - posterior) * T


def exact_fold(answers: list[tuple[int, int]]) -> Fraction:
    p = P0
    for correct, total in answers:
        p = exact_update(p, correct, total)
    return p


def bkt_quiz(*facts: LearningFact, as_of: date | None = None) -> float:
    as_of = as_of or max(f.occurred_at.date() for f in facts)
    return mastery_as_of(facts, as_of, BKT_V1).components.quiz


# --- the registry ------------------------------------------------------------------------------


def test_the_registry_holds_seed_v1_as_default_and_bkt_v1() -> None:
    assert set(FORMULAS) == {"seed-v1", "bkt-v1"}
    assert formula_named("bkt-v1") is BKT_V1
    assert SEED_V1.name == FORMULA
    assert KnowledgeTracing(prior=0.3, slip=0.1, guess=0.2, learn=0.1) == BKT_V1_PARAMETERS


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5])
def test_parameters_must_lie_strictly_between_zero_and_one(bad: float) -> None:
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        KnowledgeTracing(prior=bad, slip=0.1, guess=0.2, learn=0.1)


# --- hand-computed cases -----------------------------------------------------------------------


def test_one_correct_answer_by_hand() -> None:
    # a = 0.3 * 0.9 = 0.27, b = 0.7 * 0.2 = 0.14, post = 27/41, p = 27/41 + 14/41 * 0.1
    assert bkt_quiz(quiz("q", at(0), 1, 1)) == pytest.approx(27 / 41 + 1.4 / 41, abs=1e-15)


def test_one_wrong_answer_by_hand() -> None:
    # a = 0.3 * 0.1 = 0.03, b = 0.7 * 0.8 = 0.56, post = 3/59, p = 3/59 + 56/59 * 0.1
    assert bkt_quiz(quiz("q", at(0), 0, 1)) == pytest.approx(3 / 59 + 5.6 / 59, abs=1e-15)


def test_a_quiz_of_several_questions_is_one_update_with_k_of_n() -> None:
    # 3 of 5: a = 0.3 * 0.9^3 * 0.1^2, b = 0.7 * 0.2^3 * 0.8^2
    a, b = 0.3 * 0.9**3 * 0.1**2, 0.7 * 0.2**3 * 0.8**2
    expected = a / (a + b) + (1 - a / (a + b)) * 0.1
    assert bkt_quiz(quiz("q", at(0), 3, 5)) == pytest.approx(expected, abs=1e-15)
    assert expected == pytest.approx(float(exact_fold([(3, 5)])), abs=1e-15)


def test_events_fold_in_time_order() -> None:
    facts = [quiz("b", at(0, 9), 0, 1), quiz("a", at(0, 10), 1, 1), quiz("c", at(1), 4, 4)]
    assert bkt_quiz(*facts) == pytest.approx(float(exact_fold([(0, 1), (1, 1), (4, 4)])), 1e-14)
    # the same answers in another order are another history, with another estimate
    reordered = [quiz("b", at(2), 0, 1), quiz("a", at(0, 10), 1, 1), quiz("c", at(1), 4, 4)]
    assert bkt_quiz(*reordered) != pytest.approx(bkt_quiz(*facts), abs=1e-6)


def test_a_timestamp_tie_is_ordered_by_event_id() -> None:
    tied = [quiz("z", at(0), 0, 3), quiz("a", at(0), 3, 3)]
    assert bkt_quiz(*tied) == pytest.approx(float(exact_fold([(3, 3), (0, 3)])), abs=1e-14)


def test_attempts_do_not_enter() -> None:
    assert bkt_quiz(quiz("q", at(0), 2, 3, attempts=7)) == bkt_quiz(quiz("q", at(0), 2, 3))


def test_topics_are_traced_apart_and_the_student_quiz_is_their_mean() -> None:
    facts = [
        quiz("a", at(0), 1, 1, topic="sql"),
        quiz("b", at(1), 0, 4, topic="git"),
        quiz("c", at(2), 3, 3, topic="sql"),
        completion("d", at(2), 5, 10, topic="python"),  # no quiz evidence: not in the mean
    ]
    m = mastery_as_of(facts, day(2), BKT_V1)
    sql, git = exact_fold([(1, 1), (3, 3)]), exact_fold([(0, 4)])
    assert m.topics["sql"].components.quiz == pytest.approx(float(sql), abs=1e-15)
    assert m.topics["git"].components.quiz == pytest.approx(float(git), abs=1e-15)
    assert m.topics["python"].components.quiz == 0.0
    # the mean is exact over the topics' own floats, rounded once
    own = [Fraction(m.topics[t].components.quiz) for t in ("sql", "git")]
    assert m.components.quiz == float(sum(own) / 2)


def test_no_quiz_evidence_is_zero_and_listed_as_such() -> None:
    m = mastery_as_of([completion("c", at(0), 5, 10)], day(0), BKT_V1)
    assert m.components.quiz == 0.0
    assert "quiz" in m.no_evidence
    assert m.formula == "bkt-v1"


# --- extreme evidence --------------------------------------------------------------------------


@pytest.mark.parametrize("total", [1, 10, 1_000, 100_000, 1_000_000])
def test_all_correct_tends_to_one_without_underflow(total: int) -> None:
    value = bkt_quiz(quiz("q", at(0), total, total))
    assert math.isfinite(value)
    if total <= 1_000:  # the exact reference's integers grow with n
        assert value == pytest.approx(float(exact_fold([(total, total)])), abs=1e-12)
    if total >= 100:
        assert value == 1.0


@pytest.mark.parametrize("total", [1, 10, 1_000, 100_000, 1_000_000])
def test_all_wrong_tends_to_the_learn_rate(total: int) -> None:
    """Nothing known after the evidence, but the chance to learn from it: p = T."""
    value = bkt_quiz(quiz("q", at(0), 0, total))
    if total <= 1_000:
        assert value == pytest.approx(float(exact_fold([(0, total)])), abs=1e-12)
    if total >= 100:
        assert value == pytest.approx(0.1, abs=1e-15)


def test_a_million_questions_half_right_is_a_finite_estimate() -> None:
    value = bkt_quiz(quiz("q", at(0), 500_000, 1_000_000))
    # 0.9^k 0.1^(n-k) against 0.2^k 0.8^(n-k) with k = n/2: 0.09 vs 0.16, not known
    assert value == pytest.approx(0.1, abs=1e-15)


def test_recovery_after_a_million_wrong_answers() -> None:
    facts = [quiz("a", at(0), 0, 1_000_000), quiz("b", at(1), 1_000_000, 1_000_000)]
    assert bkt_quiz(*facts) == 1.0


def test_many_events_on_one_day() -> None:
    facts = [quiz(f"e{i:04d}", at(0, 8 + i % 12, i % 60), i % 3 // 2, 1) for i in range(600)]
    ordered = sorted(facts, key=lambda f: (f.occurred_at, f.event_id))
    answers = [
        (f.evidence.correct_answers, 1) for f in ordered if isinstance(f.evidence, QuizEvidence)
    ]
    assert bkt_quiz(*facts) == pytest.approx(float(exact_fold(answers)), abs=1e-12)
    shuffled = facts[:]
    random.Random(7).shuffle(shuffled)
    assert bkt_quiz(*shuffled) == bkt_quiz(*facts)


# --- properties --------------------------------------------------------------------------------

quiz_facts = st.lists(
    st.builds(
        lambda i, d, h, k, n, topic: quiz(f"e{i}", at(d, h), min(k, n), n, topic=topic),
        st.integers(0, 999),
        st.integers(0, 5),
        st.sampled_from([0, 12, 23]),
        st.integers(0, 1_000_000),
        st.sampled_from([1, 2, 5, 40, 1_000, 1_000_000]),
        st.sampled_from(["sql", "git"]),
    ),
    min_size=1,
    max_size=25,
    unique_by=lambda f: f.event_id,
)


@settings(max_examples=150, deadline=None)
@given(quiz_facts, st.randoms(use_true_random=False))
def test_the_result_does_not_depend_on_the_order_facts_arrive_in(
    facts: list[LearningFact], rng: random.Random
) -> None:
    as_of = max(f.occurred_at.date() for f in facts)
    expected = mastery_as_of(facts, as_of, BKT_V1).to_document(exact=True)
    shuffled = facts[:]
    rng.shuffle(shuffled)
    ledger = MasteryLedger.empty(BKT_V1)
    for f in shuffled:  # fed one at a time: late facts refold their topic
        ledger.add(f)
    assert ledger.mastery(as_of).to_document(exact=True) == expected
    assert mastery_as_of(shuffled + facts[:3], as_of, BKT_V1).to_document(exact=True) == expected


@settings(max_examples=150, deadline=None)
@given(quiz_facts)
def test_estimates_stay_within_the_learn_rate_and_one(facts: list[LearningFact]) -> None:
    m = mastery_as_of(facts, max(f.occurred_at.date() for f in facts), BKT_V1)
    for topic in m.topics.values():
        assert 0.1 - 1e-15 <= topic.components.quiz <= 1.0
    assert 0.0 <= m.score <= 1.0


answers_of_quizzes = st.lists(
    st.integers(1, 60).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))), max_size=12
)


@settings(max_examples=150, deadline=None)
@given(answers_of_quizzes, st.randoms(use_true_random=False))
def test_log_space_matches_the_exact_update_whatever_order_events_arrive_in(
    answers: list[tuple[int, int]], rng: random.Random
) -> None:
    keyed = list(enumerate(answers))
    rng.shuffle(keyed)
    track = KnowledgeTrack(BKT_V1_PARAMETERS)
    for index, (correct, total) in keyed:
        track.add((at(0), f"e{index:03d}"), correct, total)
    assert track.known() == pytest.approx(float(exact_fold(answers)), abs=1e-12)
    assert len(track) == len(answers)


@settings(max_examples=100, deadline=None)
@given(fact_lists)
def test_every_other_component_is_as_in_seed_v1(facts: list[LearningFact]) -> None:
    if not facts:
        return
    as_of = max(f.occurred_at.date() for f in facts)
    seed, bkt = mastery_as_of(facts, as_of, SEED_V1), mastery_as_of(facts, as_of, BKT_V1)
    pairs = [(bkt.components, seed.components)]
    pairs += [(bkt.topics[t].components, seed.topics[t].components) for t in seed.topics]
    for mine, theirs in pairs:
        assert (mine.completion, mine.quality, mine.consistency) == (
            theirs.completion,
            theirs.quality,
            theirs.consistency,
        )
    assert bkt.evidence == seed.evidence
    assert set(bkt.topics) == set(seed.topics)
    assert bkt.event_count == seed.event_count
    assert (seed.formula, bkt.formula) == ("seed-v1", "bkt-v1")


@settings(max_examples=60, deadline=None)
@given(fact_lists)
def test_daily_snapshots_and_timeline_agree_with_mastery_as_of(facts: list[LearningFact]) -> None:
    daily = daily_masteries(facts, formula=BKT_V1)
    for as_of, m in daily.items():
        assert m.to_document(exact=True) == mastery_as_of(facts, as_of, BKT_V1).to_document(
            exact=True
        )
    for f, m in timeline(facts, BKT_V1):
        upto = [g for g in facts if step_key(g) <= step_key(f)]
        assert m.score == mastery_as_of(upto, step_key(f)[0].date(), BKT_V1).score


def test_seed_v1_ledgers_keep_their_state_and_bkt_ledgers_are_not_read_back() -> None:
    facts = [quiz("a", at(0), 1, 2), quality("b", at(0), 0.5, 0.5, 0.5)]
    seed, bkt = MasteryLedger.empty(), MasteryLedger.empty(BKT_V1)
    for f in facts:
        seed.add(f)
        bkt.add(f)
    assert "formula" not in seed.to_state()
    assert MasteryLedger.from_state(seed.to_state()) == seed
    state = bkt.to_state()
    assert state["formula"] == "bkt-v1"
    assert state["quiz_tracks"] == {"general": [[at(0).isoformat(), "a", 1, 2]]}
    with pytest.raises(ValueError, match="only seed-v1"):
        MasteryLedger.from_state(state)
    assert bkt != seed
