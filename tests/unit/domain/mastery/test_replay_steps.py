"""A replay's steps (``replay_steps``): what each fact changed, computed incrementally, equal
to the whole mastery recomputed after each fact, and resumable from a cursor."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from domain.facts import CompletionEvidence, LearningFact, QuizEvidence
from domain.mastery import Replayer, replay_steps, step_key, timeline
from tests.unit.domain.mastery.strategies import at, fact_lists

fast = settings(max_examples=60, deadline=None)


def quiz(event_id: str, day: int, correct: int, topic: str = "sql") -> LearningFact:
    return LearningFact(event_id, at(day, hour=15), topic, QuizEvidence(10, correct))


def completion(event_id: str, day: int, completed: int, hour: int = 12) -> LearningFact:
    return LearningFact(event_id, at(day, hour), "sql", CompletionEvidence(10, completed))


@fast
@given(fact_lists)
def test_each_step_equals_the_whole_mastery_after_its_fact(facts: list[LearningFact]) -> None:
    steps = list(replay_steps(facts))
    whole = timeline(facts)

    assert [s.fact for s in steps] == [f for f, _ in whole]
    assert [s.number for s in steps] == list(range(1, len(facts) + 1))
    for step, (fact, mastery) in zip(steps, whole, strict=True):
        assert (step.score, step.level) == (mastery.score, mastery.level)
        assert step.topic == mastery.topics[fact.topic]
        assert step.mastery is None


@fast
@given(fact_lists)
def test_steps_after_a_cursor_are_the_tail_of_the_whole_replay(facts: list[LearningFact]) -> None:
    whole = list(replay_steps(facts))
    for cut in range(len(whole)):
        resumed = list(replay_steps(facts, after=whole[cut].key))
        assert resumed == whole[cut + 1 :]


def test_a_step_says_when_the_level_changed_and_from_which_level() -> None:
    facts = [
        completion("a", 0, 0),
        completion("b", 0, 0, hour=13),
        completion("c", 0, 10, hour=14),  # replaces b: the topic's latest completion
        quiz("d", 0, 10),
        quiz("e", 1, 10),
    ]

    steps = list(replay_steps(facts))

    levels = ["beginner", "beginner", "developing", "proficient", "proficient"]
    assert [s.level for s in steps] == levels
    assert [s.level_changed for s in steps] == [False, False, True, True, False]
    assert [s.previous_level for s in steps] == [None, *levels[:-1]]
    resumed = next(replay_steps(facts, after=step_key(facts[1])))
    assert resumed.level_changed and resumed.previous_level == "beginner"


def test_full_steps_carry_the_whole_mastery() -> None:
    facts = [quiz("a", 0, 5, "sql"), quiz("b", 1, 9, "git")]

    steps = list(replay_steps(facts, full=True))

    assert [s.mastery for s in steps] == [m for _, m in timeline(facts)]


@fast
@given(fact_lists)
def test_a_replayer_resumed_from_a_copy_continues_the_whole_replay(
    facts: list[LearningFact],
) -> None:
    whole = list(replay_steps(facts))
    ordered = [s.fact for s in whole]
    for cut in range(len(ordered) + 1):
        replayer = Replayer()
        for fact in ordered[:cut]:
            replayer.skip(fact)
        resumed = replayer.copy()
        assert [resumed.step(f) for f in ordered[cut:]] == whole[cut:]
        assert replayer.number == cut  # the copy's steps left the original as it was


def test_a_replayer_refuses_a_fact_out_of_order() -> None:
    replayer = Replayer()
    replayer.step(quiz("b", 1, 5))

    with pytest.raises(ValueError, match="does not come after"):
        replayer.step(quiz("a", 1, 5))
