"""Workers pace the cyclic garbage collector; cyclic garbage is still collected."""

from __future__ import annotations

import gc
import weakref

from infrastructure.runtime.gc_pacing import Paced, paused


class Node:
    def __init__(self) -> None:
        self.me: Node | None = self  # a reference cycle: only the collector frees it


def cyclic_garbage() -> weakref.ref[Node]:
    return weakref.ref(Node())


def test_paced_turns_automatic_collection_off_and_back_on() -> None:
    assert gc.isenabled()
    with Paced():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_tick_collects_what_the_last_batch_left_in_cycles() -> None:
    with Paced() as paced:
        garbage = cyclic_garbage()
        assert garbage() is not None
        paced.tick()
        assert garbage() is None


def test_a_tick_runs_a_full_collection_only_when_it_is_due() -> None:
    def full_collections() -> int:
        return int(gc.get_stats()[2]["collections"])

    before = full_collections()
    with Paced(full_every=3600.0) as paced:
        paced.tick()
        assert full_collections() == before
        paced.full_every = 0.0
        paced.tick()
        assert full_collections() == before + 1


def test_paused_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    try:
        with paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
