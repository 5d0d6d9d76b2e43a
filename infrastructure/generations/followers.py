"""Every ready generation followed by one projector process (SPEC §4b, decision in
docs/generations.md): the main projector steps one projector per other generation in its own
loop, each with its own formula, view, history cache and tracked position.

The registry is read again at most every ``refresh_seconds``: a generation marked ready by a
build is followed from its tracked position within that time; one being dropped is let go.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from infrastructure.generations.registry import Generation, GenerationRegistry
from infrastructure.projection.runner import Projector

REFRESH_SECONDS = 1.0


class Followers:
    """The companions of the projector serving ``own_prefix`` (``Projector(companions=...)``)."""

    def __init__(
        self,
        registry: GenerationRegistry,
        make: Callable[[Generation], Projector],
        own_prefix: str,
        *,
        refresh_seconds: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.make = make
        self.own_prefix = own_prefix
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self._projectors: dict[Generation, Projector] = {}
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def __call__(self) -> list[Projector]:
        with self._lock:
            now = self.clock()
            if self._read_at is None or now - self._read_at >= self.refresh_seconds:
                self._refresh()
                self._read_at = now
            return list(self._projectors.values())

    def _refresh(self) -> None:
        wanted = {
            _identity(g) for g in self.registry.all() if g.ready and g.prefix != self.own_prefix
        }
        for generation in [g for g in self._projectors if g not in wanted]:
            self._projectors.pop(generation).close()
        for generation in wanted - set(self._projectors):
            self._projectors[generation] = self.make(generation)

    def close(self) -> None:
        with self._lock:
            for projector in self._projectors.values():
                projector.close()
            self._projectors.clear()


def _identity(generation: Generation) -> Generation:
    """What makes a follower reusable: name, formula and prefix (not its times)."""
    return Generation(generation.name, generation.formula, generation.prefix, generation.state, "")
