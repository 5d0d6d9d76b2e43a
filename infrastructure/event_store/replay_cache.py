"""Replays remembered while a student's history is unchanged.

A dashboard pages through a long timeline a page at a time; reading, decrypting and decoding
thousands of events for every page would cost more than the page itself. A replay is kept
with the student's version it reflects; the caller reads the latest version from the store for
every request (which also fails at once for an erased student), answers from the kept replay
while it is the same, and brings it up to date with the events recorded since otherwise
(``Replay.extended``). The cache holds at most ``max_events`` events in all, least recently used
first out, so its memory is bounded whatever the students' history lengths.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import date
from uuid import UUID

from projections.replay import Replay

ReplayKey = tuple[UUID, date]


class ReplayCache:
    def __init__(self, max_events: int) -> None:
        self._max_events = max_events
        self._entries: OrderedDict[ReplayKey, tuple[int, Replay]] = OrderedDict()
        self._events = 0
        self._lock = threading.Lock()

    def get(self, key: ReplayKey) -> tuple[int, Replay] | None:
        """The replay kept for ``key`` and the student's version it reflects."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: ReplayKey, version: int, replay: Replay) -> None:
        size = len(replay.events)
        if size > self._max_events:
            return
        with self._lock:
            self._drop(key)
            self._entries[key] = (version, replay)
            self._events += size
            while self._events > self._max_events:
                self._drop(next(iter(self._entries)))

    def _drop(self, key: ReplayKey) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._events -= len(entry[1].events)
