"""The access-log writer is a supervised worker: an unexpected failure while writing neither
ends it nor loses the entries it held, and a retried write logs each read once, even when the
failed attempt had committed (SPEC §7, §10)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import psycopg
import pytest

from infrastructure.compliance.access_log import AccessEntry, AccessLog
from infrastructure.runtime.supervision import WorkerState
from tests.killable import wait_until
from tests.support import count_rows


def _entry(index: int) -> AccessEntry:
    return AccessEntry(
        at=datetime.now(UTC),
        request_id=f"r{index}",
        subject="teacher-1",
        role="teacher",
        tenant_id="t-access",
        student_id=f"s{index}",
        class_id=None,
        route="/v1/students/{id}/mastery",
        action="read_mastery",
        outcome="allowed",
        status=200,
    )


def test_the_writer_survives_an_unexpected_failure_and_writes_everything(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_batch = AccessLog._write_batch
    calls: list[int] = []

    def fails_once(self: AccessLog) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("an unexpected failure")
        write_batch(self)

    monkeypatch.setattr(AccessLog, "_write_batch", fails_once)
    access_log = AccessLog(database_url, interval=0.01)
    access_log.start()
    try:
        for index in range(3):
            access_log.record(_entry(index))
        rows = "SELECT count(*) FROM access_log WHERE tenant_id = 't-access'"
        wait_until(lambda: count_rows(database_url, rows) == 3, 10, "entries not written")
        snapshot = access_log.health.snapshot()
        assert snapshot.failures == 1
        assert snapshot.last_error == "RuntimeError: an unexpected failure"
        assert snapshot.state is WorkerState.RUNNING
    finally:
        access_log.close()
    assert access_log.health.snapshot().state is WorkerState.STOPPED
    assert access_log.written == 3


def test_a_write_that_committed_before_its_connection_dropped_is_not_repeated(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_batch = AccessLog._write_batch
    calls: list[int] = []

    def answer_lost_once(self: AccessLog) -> None:
        calls.append(1)
        if len(calls) > 1:
            write_batch(self)
            return
        held = list(self._pending)
        write_batch(self)  # committed ...
        self._pending.extendleft(reversed(held))  # ... but the writer never heard so
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(AccessLog, "_write_batch", answer_lost_once)
    access_log = AccessLog(database_url, interval=0.01)
    for index in range(4):
        access_log.record(_entry(index))
    access_log.start()
    try:
        deadline = time.monotonic() + 10
        while len(calls) < 2 or access_log.backlog():
            assert time.monotonic() < deadline, "the writer did not retry"
            time.sleep(0.02)
    finally:
        access_log.close()
    assert (
        count_rows(database_url, "SELECT count(*) FROM access_log WHERE tenant_id = 't-access'")
        == 4
    )
