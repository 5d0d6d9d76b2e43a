"""Build, promote and drop a generation (SPEC §4b).

* **build**: registered as ``building`` first (from then on an erasure seals it too), the
  tombstones of every other generation copied in, then the Rebuilder fills it from the event
  store up to the head and it catches up incrementally; marked ``ready`` only then, which is
  when the running projector starts following it from its own tracked position. Positions make
  the hand-over safe: the follower starts after the build's last batch, and a student's
  documents refuse an update at or below their position.
* **promote**: one SET of the live pointer; refused while the generation is behind the live
  one unless forced.
* **drop**: marked ``dropping`` (followers let it go), a grace period for a batch in flight,
  then its keys deleted with SCAN and UNLINK in batches, then its entry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from domain.mastery.formulas import Formula
from infrastructure.generations.registry import (
    MAIN,
    Generation,
    GenerationError,
    GenerationRegistry,
    glob_escaped,
)
from infrastructure.projection.runner import Projector
from infrastructure.redis_views.commands import Commands, RedisClient
from infrastructure.redis_views.keys import Keys
from projections.view import MasteryView, StudentKey

PositionOf = Callable[[Generation], int]
DROPPING = "dropping"
UNLINK_BATCH = 1000
DROP_GRACE_SECONDS = 2.5  # more than the followers' registry refresh (followers.py)


@dataclass(frozen=True, slots=True)
class GenerationState:
    """A generation with its position and lag (``mastery generations list``)."""

    generation: Generation
    live: bool
    position: int
    lag_events: int

    def to_document(self) -> dict[str, object]:
        g = self.generation
        return {
            "name": g.name,
            "formula": g.formula,
            "prefix": g.prefix,
            "state": g.state,
            "live": self.live,
            "position": self.position,
            "lag_events": self.lag_events,
            "created_at": g.created_at,
            "built_at": g.built_at,
        }


def states(
    registry: GenerationRegistry, position_of: PositionOf, head: int
) -> list[GenerationState]:
    live = registry.live_name()
    found = []
    for generation in registry.all():
        position = position_of(generation)
        found.append(
            GenerationState(generation, generation.name == live, position, head - position)
        )
    return found


def build(
    registry: GenerationRegistry,
    name: str,
    formula: Formula,
    projector_of: Callable[[Generation], Projector],
    on_progress: Callable[[int, int], None] = lambda done, total: None,
) -> Generation:
    generation = registry.register(name, formula)
    projector = projector_of(generation)
    try:
        copy_tombstones(registry, generation, projector.view)
        projector.rebuild(on_progress=on_progress)
        projector.catch_up()
        copy_tombstones(registry, generation, projector.view)  # erasures during the build
    finally:
        projector.close()
    return registry.mark_ready(name)


def copy_tombstones(registry: GenerationRegistry, target: Generation, view: MasteryView) -> int:
    """Seal in ``target`` (its ``view``) every student erased in another generation: a
    generation built after an erasure never brings the student back (SPEC §10)."""
    sealed = 0
    for generation in registry.all():
        if generation.prefix == target.prefix:
            continue
        for key in erased_students(registry.client, Keys(generation.prefix)):
            if not view.is_erased(key):
                view.erase_student(key, [])
                sealed += 1
    return sealed


def erased_students(client: RedisClient, keys: Keys) -> Iterator[StudentKey]:
    pattern = f"{glob_escaped(keys.prefix)}erased:{{*}}:student"
    for raw in Commands(client).scan(pattern):
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        tag = name[len(keys.prefix) :].removeprefix("erased:{").removesuffix("}:student")
        tenant, _, student = tag.partition("/")
        if tenant and student:
            yield StudentKey(tenant, student)


def promote(
    registry: GenerationRegistry,
    name: str,
    position_of: PositionOf,
    *,
    force: bool = False,
) -> Generation:
    """Make ``name`` live; ``GenerationError`` if it is not ready, or behind the live one
    (by how many events) without ``force``."""
    generation = registry.get(name)
    if not generation.ready:
        raise GenerationError(f"generation {name!r} is {generation.state}, not ready")
    behind = position_of(registry.live()) - position_of(generation)
    if behind > 0 and not force:
        raise GenerationError(
            f"generation {name!r} is {behind} events behind the live one; wait for its "
            "projector to catch up, or promote with --force"
        )
    registry.point_at(generation)
    return generation


def drop(
    registry: GenerationRegistry,
    name: str,
    *,
    grace_seconds: float = DROP_GRACE_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Delete a generation that is neither live nor ``main``; returns the keys deleted."""
    generation = registry.get(name)
    if name == registry.live_name():
        raise GenerationError(f"generation {name!r} is live; promote another one first")
    if name == MAIN:
        raise GenerationError("main holds the read models under MASTERY_REDIS_PREFIX itself")
    registry.mark(name, DROPPING)
    sleep(grace_seconds)  # a follower that read the registry before lets it go
    deleted = delete_keys(registry.client, generation.prefix)
    registry.forget(name)
    return deleted


def delete_keys(client: RedisClient, prefix: str) -> int:
    """Every key under ``prefix``, deleted with SCAN and UNLINK in batches."""
    if not prefix:
        raise GenerationError("refusing to delete every key of the database")
    commands = Commands(client)  # on a Redis Cluster: every master scanned, one UNLINK per slot
    deleted = 0
    batch: list[bytes] = []
    for name in commands.scan(f"{glob_escaped(prefix)}*"):
        batch.append(name)
        if len(batch) >= UNLINK_BATCH:
            commands.unlink(batch)
            deleted += len(batch)
            batch = []
    commands.unlink(batch)
    return deleted + len(batch)


__all__ = ["GenerationError", "GenerationState", "build", "drop", "promote", "states"]
