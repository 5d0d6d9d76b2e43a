"""Lowering a process's CPU priority, and its children inheriting it (real spawned processes)."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from infrastructure.runtime.priority import lower_priority


def _lowered_then_child(by: int, out: multiprocessing.Queue[tuple[int, int]]) -> None:
    before = os.nice(0)
    now = lower_priority(by)
    child_out: multiprocessing.Queue[int] = multiprocessing.get_context("spawn").Queue()
    child = multiprocessing.get_context("spawn").Process(target=_niceness, args=(child_out,))
    child.start()
    seen = child_out.get(timeout=60)
    child.join(60)
    out.put((now - before, seen - before))


def _niceness(out: multiprocessing.Queue[int]) -> None:
    out.put(os.nice(0))


def test_a_lowered_process_and_what_it_spawns_run_at_the_lower_priority() -> None:
    context = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[tuple[int, int]] = context.Queue()
    process = context.Process(target=_lowered_then_child, args=(5, out))
    process.start()
    raised, inherited = out.get(timeout=60)
    process.join(60)
    # At most 19: a machine already running the tests niced may cap the increment.
    assert raised == min(5, 19 - os.nice(0))
    assert inherited == raised


@pytest.mark.parametrize("by", [-1, 20])
def test_an_increment_outside_0_to_19_is_refused(by: int) -> None:
    with pytest.raises(ValueError, match=r"0\.\.19"):
        lower_priority(by)
