"""The projector's wake-up: PostgreSQL's NOTIFY on each commit to the event store."""

from __future__ import annotations

import time
from typing import Protocol

import psycopg


class CommitListener(Protocol):
    def __enter__(self) -> CommitListener: ...
    def __exit__(self, *exc: object) -> None: ...
    def wait(self, timeout: float) -> None:
        """Return on the next commit, or after ``timeout`` seconds (a safety net)."""


class NotifyListener:
    """LISTEN on the events table's channel, on a connection of its own."""

    def __init__(self, database_url: str, channel: str) -> None:
        self.conn = psycopg.connect(database_url, autocommit=True)
        self.conn.execute(f'LISTEN "{channel.replace(chr(34), "")}"')

    def __enter__(self) -> NotifyListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.close()

    def wait(self, timeout: float) -> None:
        started = time.monotonic()
        for _ in self.conn.notifies(timeout=timeout, stop_after=1):
            break
        if time.monotonic() - started < 0.001:
            time.sleep(0.001)
