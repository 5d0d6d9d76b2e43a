"""A synthetic cohort of learning events in the input contract (SPEC §3), for the demo,
benchmarks and tests.

Each student has an ability, a learning trend (improving, steady or slipping) and a habit of
study (how many days a week they practise); over the weeks they work through the topics of
their class with exercises, quizzes and code reviews. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from domain.timestamps import format_timestamp

TOPICS = (
    "python.basics",
    "python.loops",
    "python.functions",
    "python.collections",
    "python.classes",
    "python.testing",
)
DIFFICULTIES = ("beginner", "intermediate", "advanced")
AGENTS = {
    "completion": "exercise-agent",
    "quiz": "quiz-agent",
    "quality": "code-review-agent",
    "consistency": "study-planner",
}


@dataclass(frozen=True, slots=True)
class CohortShape:
    students: int = 300
    classes: int = 10
    days: int = 42
    events: int | None = None  # if set, generate exactly this many events
    tenant_id: str = "demo"
    end: date = date(2026, 11, 20)
    seed: int = 7
    id_prefix: str | None = None  # default: the tenant id


def cohort_events(shape: CohortShape) -> Iterator[dict[str, Any]]:
    """Events of the cohort in time order (callers shuffle when they want disorder)."""
    rng = random.Random(shape.seed)
    start = shape.end - timedelta(days=shape.days - 1)
    profiles = [_profile(rng, index, shape) for index in range(shape.students)]
    if shape.events is not None:
        yield from _exactly(rng, profiles, shape, start)
        return
    for offset in range(shape.days):
        day = start + timedelta(days=offset)
        for profile in profiles:
            if rng.random() < profile["study_rate"]:
                yield from _study_session(rng, profile, day, offset / max(1, shape.days - 1))


def _exactly(
    rng: random.Random, profiles: list[dict[str, Any]], shape: CohortShape, start: date
) -> Iterator[dict[str, Any]]:
    assert shape.events is not None
    produced = 0
    while produced < shape.events:
        profile = profiles[rng.randrange(len(profiles))]
        offset = rng.randrange(shape.days)
        day = start + timedelta(days=offset)
        for event in _study_session(rng, profile, day, offset / max(1, shape.days - 1)):
            if produced == shape.events:
                return
            produced += 1
            yield event


def _profile(rng: random.Random, index: int, shape: CohortShape) -> dict[str, Any]:
    return {
        "student_id": f"s{index:05d}",
        "class_id": f"class-{index % shape.classes:02d}",
        "ability": min(0.97, max(0.15, rng.gauss(0.65, 0.18))),
        "trend": rng.choice((-0.25, 0.0, 0.0, 0.2, 0.35)),
        "study_rate": rng.choice((0.2, 0.4, 0.6, 0.8, 0.95)),
        "topics": TOPICS[: rng.randint(2, len(TOPICS))],
        "tenant_id": shape.tenant_id,
        "id_prefix": shape.id_prefix or shape.tenant_id,
        "counter": 0,
    }


def _study_session(
    rng: random.Random, profile: dict[str, Any], day: date, progress: float
) -> Iterator[dict[str, Any]]:
    skill = min(1.0, max(0.0, profile["ability"] + profile["trend"] * (progress - 0.5)))
    topic = rng.choice(profile["topics"])
    moment = datetime(
        day.year, day.month, day.day, rng.randint(7, 21), rng.randint(0, 59), tzinfo=UTC
    )
    for component in rng.sample(
        ("completion", "quiz", "quality", "consistency"), k=rng.randint(1, 3)
    ):
        moment += timedelta(minutes=rng.randint(1, 40))
        yield _event(profile, component, topic, moment, _data(rng, component, skill))


def _data(rng: random.Random, component: str, skill: float) -> dict[str, Any]:
    noise = rng.uniform(-0.1, 0.1)
    if component == "completion":
        total = rng.choice((10, 15, 20, 25, 30))
        completed = round(total * min(1.0, max(0.0, skill + noise)))
        return {
            "total_exercises": total,
            "completed_exercises": completed,
            "difficulty": rng.choice(DIFFICULTIES),
        }
    if component == "quiz":
        total = rng.choice((5, 10, 20))
        return {
            "total_questions": total,
            "correct_answers": round(total * min(1.0, max(0.0, skill + noise))),
            "attempts": rng.choice((1, 1, 1, 2, 3)),
            "time_spent_seconds": round(rng.uniform(60, 1200), 1),
        }
    if component == "quality":

        def score() -> float:
            return round(min(1.0, max(0.0, skill + rng.uniform(-0.15, 0.1))), 3)

        return {"avg_code_quality": score(), "correctness": score(), "efficiency": score()}
    return {"activity": rng.choice(("reading", "practice", "video", "review"))}


def _event(
    profile: dict[str, Any], component: str, topic: str, moment: datetime, data: dict[str, Any]
) -> dict[str, Any]:
    profile["counter"] += 1
    return {
        "event_id": f"{profile['id_prefix']}-{profile['student_id']}-{profile['counter']:06d}",
        "event_type": "mastery.calculation.requested",
        "timestamp": format_timestamp(moment),
        "tenant_id": profile["tenant_id"],
        "student_id": profile["student_id"],
        "class_id": profile["class_id"],
        "component": component,
        "topic": topic,
        "data": data,
        "metadata": {"source": AGENTS[component], "version": "1.0"},
    }
