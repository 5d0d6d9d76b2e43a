"""Which failures are worth waiting out: a server that is down or unreachable.

Such a failure says nothing about the message, so the worker retries the same batch with
backoff and never dead-letters it. Anything else is the message's (or the code's) fault.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

import psycopg
import psycopg_pool
import redis
from eventsourcing.persistence import InterfaceError, OperationalError

TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg_pool.PoolTimeout,
    redis.ConnectionError,
    redis.TimeoutError,
    ConnectionError,
    TimeoutError,
)


class TransientKafkaError(RuntimeError):
    """The broker did not take or acknowledge our messages in time."""


def is_transient(error: BaseException) -> bool:
    """True if ``error`` or anything in its cause/context chain is a connectivity failure."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, (*TRANSIENT_TYPES, TransientKafkaError)):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


@dataclass
class Backoff:
    """Exponential backoff with jitter, capped; ``wait`` returns False if stopped meanwhile."""

    initial: float = 0.2
    cap: float = 5.0
    _next: float = 0.0

    def reset(self) -> None:
        self._next = 0.0

    def wait(self, stop: threading.Event) -> bool:
        self._next = min(self.cap, self._next * 2 if self._next else self.initial)
        return not stop.wait(self._next * random.uniform(0.8, 1.0))
