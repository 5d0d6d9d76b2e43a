"""Parts run in real spawned children: results in order, progress seen, failures raised after
every part ended, and a child that notices its parent died."""

from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path

import pytest

from infrastructure.runtime.process_pool import (
    parent_gone,
    report_progress,
    run_parts,
    start_child,
)

# Parts must be top-level functions: a spawned child imports them from this module.


def square(number: int) -> int:
    return number * number


def report_then_linger(done: int) -> int:
    report_progress(done)
    time.sleep(1.0)  # long enough for the parent to poll after every part reported
    return os.getpid()


def fail(message: str) -> None:
    raise ValueError(message)


def finish_after(seconds: float, marker: Path) -> None:
    time.sleep(seconds)
    marker.write_text("finished")


def knows_its_parent() -> bool:
    return parent_gone()


def write_parent_gone(path: Path) -> None:
    path.write_text(str(parent_gone()))


def wait_for_parent_death(path: Path) -> None:
    deadline = time.monotonic() + 30
    while not parent_gone() and time.monotonic() < deadline:
        time.sleep(0.05)
    path.write_text(str(parent_gone()))


def start_orphan_and_die(path: Path) -> None:
    start_child(partial(wait_for_parent_death, path), name="orphan")
    os._exit(0)  # die without joining the child, as a killed command would


def wait_for(path: Path, seconds: float = 30) -> str:
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.05)  # let the child finish writing
    return path.read_text()


def test_the_results_come_back_in_part_order() -> None:
    assert run_parts([partial(square, number) for number in [3, 1, 2]]) == [9, 1, 4]


def test_no_parts_is_no_work() -> None:
    assert run_parts([]) == []


def test_parts_run_in_children_and_the_parent_sees_their_progress() -> None:
    seen: list[list[int]] = []
    pids = run_parts(
        [partial(report_then_linger, 5), partial(report_then_linger, 7)],
        on_progress=seen.append,
        poll_seconds=0.05,
    )
    assert os.getpid() not in pids
    assert all(first in (0, 5) and second in (0, 7) for first, second in seen)
    assert seen[-1] == [5, 7]


def test_a_failure_is_raised_after_every_part_ended(tmp_path: Path) -> None:
    marker = tmp_path / "slow-part"
    with pytest.raises(ValueError, match="part 0 failed"):
        run_parts([partial(fail, "part 0 failed"), partial(finish_after, 1.0, marker)])
    assert marker.read_text() == "finished"


def test_the_first_failure_in_part_order_is_raised() -> None:
    parts = [partial(square, 2), partial(fail, "part 1 failed"), partial(fail, "part 2 failed")]
    with pytest.raises(ValueError, match="part 1 failed"):
        run_parts(parts)


def test_progress_reported_outside_a_part_goes_nowhere() -> None:
    report_progress(3)  # must not raise in a process that runs no part


def test_a_part_and_a_child_know_their_parent_is_alive(tmp_path: Path) -> None:
    assert run_parts([knows_its_parent]) == [False]
    answer = tmp_path / "answer"
    child = start_child(partial(write_parent_gone, answer), name="child")
    child.join(30)
    assert child.exitcode == 0
    assert answer.read_text() == "False"
    assert not parent_gone()  # this process was not started by the helper


def test_a_child_notices_that_its_parent_died(tmp_path: Path) -> None:
    answer = tmp_path / "answer"
    middle = start_child(partial(start_orphan_and_die, answer), name="middle")
    middle.join(30)
    assert middle.exitcode == 0
    assert wait_for(answer) == "True"
