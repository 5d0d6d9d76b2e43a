"""Write-side concurrency of one process: an aggregate cache that lends, and per-student locks.

A cached aggregate is *lent* to one writer at a time: ``lend`` removes it from the cache and only
``give_back`` (after the writer's save committed) returns it. A writer that fails for any reason
simply drops what it borrowed, so no half-applied command and no pending event can outlive a
failed write, and no two threads ever mutate one aggregate object.

``StudentLocks`` serialises the writers of one process per student (striped, acquired in a fixed
order, so two batches sharing students cannot deadlock). Writers in other processes are not
serialised by it: their conflicts surface as an IntegrityError on the event store's
``(originator_id, originator_version)`` key or the idempotency ledger's ``(tenant_id,
event_id)`` key, and the writer re-reads and retries.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar
from uuid import UUID

T = TypeVar("T")

LOCK_STRIPES = 1024


class LendingCache(Generic[T]):
    """A thread-safe LRU cache whose entries are taken out while in use."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[UUID, T] = OrderedDict()
        self._lock = threading.Lock()

    def lend(self, key: UUID) -> T | None:
        with self._lock:
            return self._entries.pop(key, None)

    def give_back(self, entries: Iterable[tuple[UUID, T]]) -> None:
        if self._size <= 0:
            return
        with self._lock:
            for key, entry in entries:
                self._entries[key] = entry
                self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def forget(self, keys: Iterable[UUID]) -> None:
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


class StudentLocks:
    """Mutual exclusion per student between the threads of one process."""

    def __init__(self, stripes: int = LOCK_STRIPES) -> None:
        self._locks = [threading.Lock() for _ in range(stripes)]

    @contextmanager
    def holding(self, students: Iterable[UUID]) -> Iterator[None]:
        stripes = sorted({student.int % len(self._locks) for student in students})
        taken: list[threading.Lock] = []
        try:
            for stripe in stripes:
                lock = self._locks[stripe]
                lock.acquire()
                taken.append(lock)
            yield
        finally:
            for lock in reversed(taken):
                lock.release()
