"""Which generations the projector follows (``Followers``), against a registry in memory."""

from __future__ import annotations

from typing import Any, cast

from infrastructure.generations.followers import Followers
from infrastructure.generations.registry import BUILDING, READY, Generation, GenerationRegistry


class FakeProjector:
    def __init__(self, generation: Generation) -> None:
        self.generation = generation
        self.closed = False

    def close(self) -> None:
        self.closed = True


class FakeRegistry:
    def __init__(self) -> None:
        self.generations: list[Generation] = []
        self.reads = 0

    def all(self) -> list[Generation]:
        self.reads += 1
        return list(self.generations)


def generation(name: str, state: str = READY, formula: str = "seed-v1") -> Generation:
    prefix = "p:" if name == "main" else f"p:gen:{name}:"
    return Generation(name, formula, prefix, state, "2026-01-01T00:00:00Z")


def test_follows_ready_generations_but_its_own_and_lets_dropped_ones_go() -> None:
    registry, now = FakeRegistry(), [0.0]
    made: list[FakeProjector] = []

    def make(g: Generation) -> Any:
        made.append(FakeProjector(g))
        return made[-1]

    followers = Followers(
        cast(GenerationRegistry, registry), make, "p:", refresh_seconds=1.0, clock=lambda: now[0]
    )
    registry.generations = [generation("main"), generation("next", BUILDING)]
    assert followers() == []
    registry.generations = [generation("main"), generation("next")]
    assert followers() == []  # not read again within the refresh interval
    now[0] = 1.5
    (following,) = followers()
    assert cast(FakeProjector, following).generation.name == "next"
    now[0] = 3.0
    assert followers() == [following]  # the same projector: its cache and position kept
    registry.generations = [generation("main"), generation("next", "dropping")]
    now[0] = 4.5
    assert followers() == []
    assert made[0].closed
    assert registry.reads == 4
