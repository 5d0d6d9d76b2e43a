"""A stateful property test of the write path against a real PostgreSQL.

Random interleavings of good events, duplicates, conflicts, invalid and extreme events, batches
mixing them, concurrent writers on shared students (threads of one process, and two
applications standing for two processes), and injected failures: an exception inside the
domain, a connection dropped before the commit and one dropped after it. After every step the
store's invariants hold and each outcome is what a simple model of idempotent ingest says.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import psycopg
import pytest
from eventsourcing.persistence import OperationalError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from domain.student_mastery import StudentMastery
from infrastructure.bootstrap import Container, build
from infrastructure.settings import Settings
from tests.support import at_once, count_rows, store_violations

STUDENTS = ["s0", "s1", "s2"]
REFUSED: set[str] = set()  # event ids the domain raises on (see the ``refusing`` fixture)


@pytest.fixture
def refusing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    take_in = StudentMastery.take_in

    def maybe_refuse(self: StudentMastery, recorded: Any) -> None:
        if recorded.event_id in REFUSED:
            raise RuntimeError("injected failure inside the domain")
        take_in(self, recorded)

    monkeypatch.setattr(StudentMastery, "take_in", maybe_refuse)
    yield
    REFUSED.clear()


# What a step sends: (kind, student index, correct answers, event id hint).
Item = tuple[str, int, int, int]
ITEMS = st.tuples(
    st.sampled_from(["new", "new", "new", "repeat", "conflict", "invalid", "extreme", "refused"]),
    st.integers(0, len(STUDENTS) - 1),
    st.integers(0, 10),
    st.integers(0, 10_000),
)


class WritePath(RuleBasedStateMachine):
    database: ClassVar[str]
    apps: ClassVar[tuple[Container, Container]]

    def __init__(self) -> None:
        super().__init__()
        with psycopg.connect(self.database, autocommit=True) as conn:  # each example from empty
            conn.execute("TRUNCATE mastery_events, mastery_event_ids, mastery_snapshots")
        self.tenant = f"m-{uuid.uuid4().hex[:10]}"
        self.model: dict[str, dict[str, Any]] = {}  # event_id -> the event as recorded
        self.fresh = 0

    # --- building events ---------------------------------------------------------------

    def event(self, event_id: str, student: int, correct: int) -> dict[str, Any]:
        return {
            "event_id": event_id,
            "timestamp": f"2026-04-{1 + correct:02d}T08:00:00Z",
            "tenant_id": self.tenant,
            "student_id": STUDENTS[student],
            "component": "quiz",
            "topic": f"topic-{correct % 3}",
            "data": {"total_questions": 10, "correct_answers": correct},
        }

    def build_batch(self, items: list[Item]) -> list[dict[str, Any]]:
        batch = []
        known = sorted(self.model)
        for kind, student, correct, hint in items:
            if kind in ("repeat", "conflict") and known:
                original = self.model[known[hint % len(known)]]
                if kind == "repeat":
                    batch.append(dict(original))
                else:
                    other = (original["data"]["correct_answers"] + 1) % 11
                    batch.append(
                        {**original, "data": {**original["data"], "correct_answers": other}}
                    )
                continue
            self.fresh += 1
            event = self.event(f"{self.tenant}-e{self.fresh}", student, correct)
            if kind == "invalid":
                event["component"] = "telepathy"
            elif kind == "extreme":
                event["timestamp"] = "0001-01-01T00:00:00+01:00"
            elif kind == "refused":
                REFUSED.add(event["event_id"])
            batch.append(event)
        return batch

    # --- the model ------------------------------------------------------------------------

    def expect(self, batch: list[dict[str, Any]]) -> list[str]:
        """The outcome of each event if the batch is applied to the model, which it updates."""
        outcomes = []
        for event in batch:
            event_id = event["event_id"]
            if event["component"] == "telepathy" or event["timestamp"].startswith("0001"):
                outcomes.append("rejected")
            elif event_id in self.model:
                outcomes.append("duplicate" if self.model[event_id] == event else "conflict")
            elif event_id in REFUSED:
                outcomes.append("rejected")
            else:
                self.model[event_id] = event
                outcomes.append("recorded")
        return outcomes

    def send(self, app: Container, batch: list[dict[str, Any]]) -> list[str]:
        return [o.status.value for o in app.ingest.ingest(batch).outcomes]

    # --- rules ----------------------------------------------------------------------------

    @rule(items=st.lists(ITEMS, min_size=1, max_size=8), which=st.integers(0, 1))
    def send_a_batch(self, items: list[Item], which: int) -> None:
        batch = self.build_batch(items)
        assert self.send(self.apps[which], batch) == self.expect(batch)

    @rule(
        items=st.lists(ITEMS, min_size=1, max_size=6),
        fault=st.sampled_from(["before_commit", "after_commit"]),
    )
    def send_while_the_connection_drops(self, items: list[Item], fault: str) -> None:
        batch = self.build_batch(items)
        app = self.apps[0]
        with dropped_connection(app, after_commit=fault == "after_commit") as dropped:
            if fault == "after_commit":
                assert self.send(app, batch) == self.expect(batch)
                return
            snapshot = dict(self.model)
            try:
                outcomes = self.send(app, batch)
            except OperationalError:
                assert dropped()  # the write failed and did not commit: nothing changed
                return
            assert not dropped()  # nothing was left to write, so nothing was tried
            assert outcomes == self.expect(batch)
            assert {k: v for k, v in self.model.items() if k not in snapshot} == {}

    @rule(
        items=st.lists(ITEMS, min_size=1, max_size=6),
        same_process=st.booleans(),
    )
    def two_writers_send_overlapping_batches(self, items: list[Item], same_process: bool) -> None:
        shared = self.build_batch(items)
        own = [self.build_batch([("new", n % len(STUDENTS), n % 11, 0)])[0] for n in range(2)]
        batches = [shared + own[:1], own[1:] + shared[::-1]]
        apps = (self.apps[0], self.apps[0] if same_process else self.apps[1])
        results: list[list[str]] = [[], []]

        def write(index: int) -> None:
            results[index] = self.send(apps[index], batches[index])

        at_once(2, write)
        # Whichever writer came first, the model applied in some order explains the outcomes.
        first, second = (0, 1) if _first_records(results, batches) == 0 else (1, 0)
        assert results[first] == self.expect(batches[first])
        assert results[second] == self.expect(batches[second])

    # --- invariants -----------------------------------------------------------------------

    @invariant()
    def the_store_holds_exactly_the_model(self) -> None:
        stored = count_rows(
            self.database,
            f"SELECT count(*) FROM mastery_event_ids WHERE tenant_id = '{self.tenant}'",
        )
        assert stored == len(self.model)
        assert store_violations(self.database, self.apps[0].application) == []


def _first_records(results: list[list[str]], batches: list[list[dict[str, Any]]]) -> int:
    """Which writer recorded the first event both batches share (the other saw it stored)."""
    second_ids = {e["event_id"] for e in batches[1]}
    for event, outcome in zip(batches[0], results[0], strict=True):
        if event["event_id"] in second_ids and outcome == "recorded":
            return 0
    return 1


class dropped_connection:
    """The next insert of ``app`` fails with a dropped connection, before or after commit."""

    def __init__(self, app: Container, *, after_commit: bool) -> None:
        self.recorder = app.application.recorder
        self.after_commit = after_commit
        self.fired = False

    def __enter__(self) -> Callable[[], bool]:
        insert = type(self.recorder).insert_events

        def failing(*args: Any, **kwargs: Any) -> Any:
            if self.fired:
                return insert(self.recorder, *args, **kwargs)
            self.fired = True
            if self.after_commit:
                insert(self.recorder, *args, **kwargs)
            raise OperationalError("injected: connection dropped")

        self.recorder.insert_events = failing  # type: ignore[method-assign]
        return lambda: self.fired

    def __exit__(self, *_: object) -> None:
        del self.recorder.insert_events


def run_model(settings_: Settings, examples: int, steps: int) -> None:
    with build(settings_) as one, build(settings_) as two:
        WritePath.database = settings_.require_database_url()
        WritePath.apps = (one, two)
        run_state_machine_as_test(
            WritePath,
            settings=settings(
                max_examples=examples,
                stateful_step_count=steps,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            ),
        )


@pytest.mark.usefixtures("refusing")
def test_the_write_path_agrees_with_the_model(settings: Settings) -> None:
    run_model(settings, examples=12, steps=10)


@pytest.mark.slow
@pytest.mark.usefixtures("refusing")
def test_the_write_path_agrees_with_the_model_at_length(settings: Settings) -> None:
    run_model(settings, examples=200, steps=25)
