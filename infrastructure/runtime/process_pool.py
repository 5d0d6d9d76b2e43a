"""Child processes: a job dealt out in parts to a pool, and a lone long-running child.

Every child is *spawned*, never forked: it builds its own connections, clients and threads
from picklable arguments instead of inheriting copies of its parent's, which fork would hand
it in whatever state another thread left them. The projection's parallel rebuild and the
parallel backfill split a job into parts with :func:`run_parts`; the Kafka consumer group
runs extra members in children started with :func:`start_child`.

A child can tell that the process which started it died (:func:`parent_gone`), so that a
killed command leaves no writer or consumer behind; what it does about it is its own choice.
A part can report how far it got (:func:`report_progress`); the parent sees every part's
figure while it waits.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ALL_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing.context import SpawnContext, SpawnProcess
from multiprocessing.sharedctypes import SynchronizedArray
from typing import TypeVar

R = TypeVar("R")

POLL_SECONDS = 0.2

# Set in a child only: by the pool's initializer, by _run_part and by _run_child.
_progress: SynchronizedArray[int] | None = None  # one slot per part: how far each got
_part: int | None = None  # the index of the part this process runs now
_parent: int | None = None  # the process that started this one


def spawn_context() -> SpawnContext:
    return multiprocessing.get_context("spawn")


def run_parts(
    parts: Sequence[Callable[[], R]],
    *,
    on_progress: Callable[[list[int]], None] = lambda _: None,
    poll_seconds: float = POLL_SECONDS,
) -> list[R]:
    """Run the parts on a pool of spawned processes, one per part; their results, in order.

    A part must be picklable: a top-level function, or a ``functools.partial`` of one. While
    they run, ``on_progress`` gets each part's last :func:`report_progress` figure (0 before
    the first) every ``poll_seconds``. Every part runs to its end, even after another failed;
    then the exception of the first failed part, in part order, is raised.
    """
    if not parts:
        return []
    context = spawn_context()
    progress = context.Array("q", len(parts))
    with ProcessPoolExecutor(
        max_workers=len(parts),
        mp_context=context,
        initializer=_enter_pool,
        initargs=(progress, os.getpid()),
    ) as pool:
        futures = [pool.submit(_run_part, index, part) for index, part in enumerate(parts)]
        while not all(future.done() for future in futures):
            on_progress(list(progress[:]))
            wait(futures, timeout=poll_seconds, return_when=ALL_COMPLETED)
        return [future.result() for future in futures]


def report_progress(done: int) -> None:
    """In a part of :func:`run_parts`: how far it got; does nothing in any other process."""
    if _progress is not None and _part is not None:
        _progress[_part] = done


def start_child(target: Callable[[], None], name: str) -> SpawnProcess:
    """Start ``target`` (picklable, as a part of :func:`run_parts`) in a spawned process, where
    :func:`parent_gone` tells whether this process died. The caller stops and joins it."""
    child = spawn_context().Process(target=_run_child, args=(os.getpid(), target), name=name)
    child.start()
    return child


def parent_gone() -> bool:
    """In a child started here: whether the process that started it has died (the child was
    handed to another parent). Always false in a process not started here."""
    return _parent is not None and os.getppid() != _parent


def _enter_pool(progress: SynchronizedArray[int], parent: int) -> None:
    global _progress, _parent  # per-process state of a pool's worker
    _progress, _parent = progress, parent


def _run_part(index: int, part: Callable[[], R]) -> R:
    global _part  # noqa: PLW0603 - a worker may run several parts, one at a time
    _part = index
    return part()


def _run_child(parent: int, target: Callable[[], None]) -> None:
    global _parent  # noqa: PLW0603 - per-process state of a child
    _parent = parent
    target()
