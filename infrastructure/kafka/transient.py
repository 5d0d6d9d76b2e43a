"""Which failures are worth waiting out: a server that is down or unreachable.

Such a failure says nothing about the message, so the worker retries the same batch with
backoff and never dead-letters it. Anything else is the message's (or the code's) fault. The
classification and the backoff are the supervision pattern's
(``infrastructure.runtime.supervision``).
"""

from __future__ import annotations

from infrastructure.runtime.supervision import (
    TRANSIENT_TYPES,
    Backoff,
    TransientError,
    is_transient,
)

__all__ = ["TRANSIENT_TYPES", "Backoff", "TransientKafkaError", "is_transient"]


class TransientKafkaError(TransientError):
    """The broker did not take or acknowledge our messages in time."""
