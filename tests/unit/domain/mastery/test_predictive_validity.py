"""The predictors of SPEC §4 against hand-computed values, and evaluate's AUC and RMSE
accumulators against a brute-force reference over the answers one by one."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.facts import QuizEvidence
from domain.mastery.formulas import BKT_V1, SEED_V1
from domain.mastery.predictive_validity import AucCounts, Scoreboard, SquaredError
from tests.unit.domain.test_mastery import at, completion, quiz

# --- predictors --------------------------------------------------------------------------------


def test_seed_v1_predicts_one_half_without_quiz_evidence_then_the_topic_ratio() -> None:
    predictor = SEED_V1.predictor()
    assert predictor.probability("sql") == 0.5
    predictor.observe("sql", QuizEvidence(total_questions=4, correct_answers=3))
    assert predictor.probability("sql") == 0.75
    assert predictor.probability("git") == 0.5  # topics apart
    # the confidence of a third attempt (0.8) weighs the correct answers, as quiz_t does
    predictor.observe("sql", QuizEvidence(total_questions=6, correct_answers=5, attempts=3))
    assert predictor.probability("sql") == (3 * 1.0 + 5 * 0.8) / 10


def test_bkt_v1_predicts_from_the_prior_then_the_traced_estimate() -> None:
    predictor = BKT_V1.predictor()
    # P0 0.3: 0.3 * 0.9 + 0.7 * 0.2 = 0.41
    assert predictor.probability("sql") == pytest.approx(0.41, abs=1e-15)
    predictor.observe("sql", QuizEvidence(total_questions=1, correct_answers=1))
    p = 27 / 41 + 1.4 / 41  # one correct answer, by hand (test_bkt)
    assert predictor.probability("sql") == pytest.approx(p * 0.9 + (1 - p) * 0.2, abs=1e-15)
    assert predictor.probability("git") == pytest.approx(0.41, abs=1e-15)


def test_bkt_v1_prediction_is_bounded_by_guess_and_one_minus_slip() -> None:
    predictor = BKT_V1.predictor()
    predictor.observe("t", QuizEvidence(total_questions=1_000_000, correct_answers=1_000_000))
    assert predictor.probability("t") == pytest.approx(0.9, abs=1e-15)
    predictor.observe("u", QuizEvidence(total_questions=1_000_000, correct_answers=0))
    # p = T after overwhelming wrong evidence: 0.1 * 0.9 + 0.9 * 0.2 = 0.27
    assert predictor.probability("u") == pytest.approx(0.27, abs=1e-15)


def test_a_history_is_predicted_from_earlier_quiz_events_in_time_order() -> None:
    board = Scoreboard([SEED_V1])
    board.add_history(
        [
            quiz("b", at(1), 1, 4),  # predicted 1.0 from "a": 1 right, 3 wrong
            completion("c", at(0), 1, 2),  # not a quiz: neither predicted nor predicting
            quiz("a", at(0), 2, 2),  # first: predicted 0.5, 2 right
        ]
    )
    error = board.overall["seed-v1"].error
    assert error.answers == 6
    assert error.total == pytest.approx(2 * 0.25 + 1 * 0.0 + 3 * 1.0)
    assert board.quiz_events == 2
    assert board.students == 1


# --- accumulators ------------------------------------------------------------------------------

# (prediction, right, wrong) triples; predictions from a small set so ties are frequent
weighted_answers = st.lists(
    st.tuples(
        st.one_of(st.sampled_from([0.0, 0.25, 0.41, 0.5, 0.75, 1.0]), st.floats(0.0, 1.0)),
        st.integers(0, 5),
        st.integers(0, 5),
    ),
    max_size=40,
)


def brute_auc(answers: list[tuple[float, int, int]]) -> Fraction | None:
    rights = [p for p, right, _ in answers for _ in range(right)]
    wrongs = [p for p, _, wrong in answers for _ in range(wrong)]
    if not rights or not wrongs:
        return None
    won = sum(
        (
            Fraction(1) if r > w else Fraction(1, 2) if r == w else Fraction(0)
            for r in rights
            for w in wrongs
        ),
        Fraction(0),
    )
    return won / (len(rights) * len(wrongs))


@settings(max_examples=300, deadline=None)
@given(weighted_answers)
def test_auc_is_exact_with_ties_counted_half(answers: list[tuple[float, int, int]]) -> None:
    counts = AucCounts()
    for prediction, right, wrong in answers:
        counts.add(prediction, right, wrong)
    expected = brute_auc(answers)
    assert counts.auc() == (None if expected is None else float(expected))
    assert counts.exact


@settings(max_examples=300, deadline=None)
@given(weighted_answers)
def test_rmse_is_over_answers_weighted_by_counts(answers: list[tuple[float, int, int]]) -> None:
    error = SquaredError()
    for prediction, right, wrong in answers:
        error.add(prediction, right, wrong)
    outcomes = [(p, 1) for p, right, _ in answers for _ in range(right)]
    outcomes += [(p, 0) for p, _, wrong in answers for _ in range(wrong)]
    if not outcomes:
        assert error.rmse() is None
        return
    expected = math.sqrt(sum((y - p) ** 2 for p, y in outcomes) / len(outcomes))
    assert error.rmse() == pytest.approx(expected, rel=1e-12, abs=1e-15)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 3), st.integers(0, 3)), min_size=1))
def test_past_its_bound_auc_folds_into_bins_and_differs_only_by_ties_within_a_bin(
    answers: list[tuple[float, int, int]],
) -> None:
    counts = AucCounts(max_values=8)
    for prediction, right, wrong in answers:
        counts.add(prediction, right, wrong)
    assert len(counts) <= 8
    binned = [(min(7, int(p * 8)) / 8, right, wrong) for p, right, wrong in answers]
    expected = brute_auc(binned)
    if len({p for p, _, _ in answers}) > 8:
        assert not counts.exact
        assert counts.auc() == (None if expected is None else float(expected))
    assert counts.right == sum(r for _, r, _ in answers)
    assert counts.wrong == sum(w for _, _, w in answers)


def test_a_perfect_and_a_reversed_ranking() -> None:
    perfect, reversed_ = AucCounts(), AucCounts()
    for p in (0.1, 0.2, 0.3):
        perfect.add(p, 0, 2)
        reversed_.add(p, 2, 0)
    for p in (0.7, 0.8):
        perfect.add(p, 3, 0)
        reversed_.add(p, 0, 3)
    assert (perfect.auc(), reversed_.auc()) == (1.0, 0.0)


def test_topics_with_too_few_answers_or_one_outcome_are_left_out_of_the_per_topic_result() -> None:
    board = Scoreboard([SEED_V1, BKT_V1])
    board.add_history([quiz(f"a{i}", at(i), i % 2, 1, topic="big") for i in range(120)])
    board.add_history([quiz("b", at(0), 3, 5, topic="small")])
    board.add_history([quiz(f"c{i}", at(i), 1, 1, topic="all-right") for i in range(150)])
    document = board.to_document(min_topic_answers=100)
    assert set(document["topics"]) == {"big"}
    assert document["topics_too_small"] == 2
    assert document["overall"]["seed-v1"]["answers"] == 120 + 5 + 150
    assert document["students"] == 3
    big = document["topics"]["big"]
    assert set(big) == {"seed-v1", "bkt-v1"}
    assert big["bkt-v1"]["answers"] == 120


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(st.integers(0, 3), st.integers(1, 9)).map(lambda t: (min(t), t[1])),
            min_size=1,
            max_size=12,
        ),
        min_size=1,
        max_size=6,
    ),
    st.randoms(use_true_random=False),
)
def test_the_result_does_not_depend_on_the_order_students_are_read_in(
    students: list[list[tuple[int, int]]], rng: random.Random
) -> None:
    histories = [
        [quiz(f"s{s}-{i}", at(i), k, n, topic=("a", "b")[i % 2]) for i, (k, n) in enumerate(h)]
        for s, h in enumerate(students)
    ]
    forward, shuffled = Scoreboard([SEED_V1, BKT_V1]), Scoreboard([SEED_V1, BKT_V1])
    for history in histories:
        forward.add_history(history)
    rng.shuffle(histories)
    for history in histories:
        shuffled.add_history(list(reversed(history)))
    assert forward.to_document(min_topic_answers=1) == shuffled.to_document(min_topic_answers=1)
