"""Erasure is final over HTTP (SPEC §10, decision 28): erased while a client keeps posting
batches for the student and the projector keeps projecting them, the student stays gone."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from eventsourcing.persistence import Tracking

from projections.view import StudentKey, StudentUpdate
from tests.e2e.http.support import Api, event

READS = ("mastery", "mastery/history", "topics", "prediction", "recommendations", "events")


@contextmanager
def posting_batches(api: Api, tenant: str) -> Iterator[list[int]]:
    """A client posting batches for vera (and will) until the block ends; yields statuses."""
    service = api.as_("service", "agent", tenant)
    statuses: list[int] = []
    stop = threading.Event()

    def post() -> None:
        now = datetime.now(UTC)
        for n in range(100_000):
            if stop.is_set():
                return
            batch = [
                event(f"v{n}-{i}", "vera", tenant, class_id="c1", day=now - timedelta(days=i % 60))
                for i in range(100)
            ]
            batch.append(event(f"w{n}", "will", tenant, class_id="c1"))
            statuses.append(service.post("/v1/events", json={"events": batch}).status_code)

    thread = threading.Thread(target=post, name="posting-vera", daemon=True)
    thread.start()
    try:
        yield statuses
    finally:
        stop.set()
        thread.join(30)


def test_an_erasure_during_ingest_leaves_nothing_readable(
    api: Api, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = api.container.view
    write = view.apply

    def slow_write(updates: Sequence[StudentUpdate], tracking: Tracking | None) -> None:
        """Widens the projector's window between reading a batch and writing it, so the
        erasure lands in it (the race of issue 11, made likely rather than lucky)."""
        if any(u.key == StudentKey(tenant, "vera") for u in updates):
            time.sleep(0.5)
        write(updates, tracking)

    monkeypatch.setattr(view, "apply", slow_write)
    admin = api.as_("admin", "dpo", tenant)
    teachers = [
        api.as_("teacher", "t-named", tenant, students=["vera"]),
        api.as_("teacher", "t-class", tenant, classes=["c1"]),
    ]
    with posting_batches(api, tenant) as statuses:
        assert until(lambda: admin.get("/v1/students/vera/mastery").status_code == 200, 10)
        time.sleep(0.3)  # the projector is busy with vera's batches
        erased = admin.delete("/v1/students/vera")
        assert erased.status_code == 200, erased.text
        answered = time.monotonic()
        while time.monotonic() - answered < 4:
            assert held_about(api, tenant, "vera") == []
            assert admin.get("/v1/students/vera/mastery").status_code == 410
            assert teachers[0].get("/v1/students/vera/mastery").status_code == 410
            assert teachers[1].get("/v1/students/vera/mastery").status_code == 403  # no roster
            time.sleep(0.05)
    # Every batch is answered event by event: vera's events after the erasure are rejected
    # (student_erased), will's recorded, even for a batch that met the destroyed key.
    assert statuses and set(statuses) == {200}, set(statuses)
    for path in READS:
        assert admin.get(f"/v1/students/vera/{path}").status_code == 410, path
    roster = teachers[1].get("/v1/classes/c1/mastery").json()["students"]
    assert [s["student_id"] for s in roster] == ["will"]
    assert held_about(api, tenant, "vera") == []


def held_about(api: Api, tenant: str, student: str) -> list[str]:
    """Every read-model key and roster entry of the student (their tombstone aside)."""
    redis, keys = api.container.redis, api.container.view.keys
    found = [n.decode() for n in redis.scan_iter(match=keys.student_tag(tenant, student) + "*")]
    rosters = (keys.tenant_roster(tenant), keys.class_roster(tenant, "c1"))
    return found + [r for r in rosters if redis.zscore(r, student) is not None]


def until(check: object, seconds: float) -> bool:
    assert callable(check)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return bool(check())
