"""The hot read of the query API on the event loop: a student's current document, read with
redis.asyncio so a dashboard poll needs no thread-pool hop.

A pooled connection to a Redis that has since restarted is found broken only when used (the
asyncio pool does not check it out the way the sync one does): a command failing with a
connection error is retried once, at once, on a fresh connection, so the first read after a
restart answers. A timeout is not retried (a hung server still answers 503 quickly)."""

from __future__ import annotations

from typing import Any

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from domain.errors import StudentErasedError
from domain.student_mastery import student_aggregate_id
from infrastructure.redis_views.keys import Keys
from infrastructure.redis_views.view import ParsedDocuments
from projections.view import StudentKey


class AsyncCurrentReader:
    def __init__(self, url: str, keys: Keys, timeout_seconds: float) -> None:
        self.client = redis.asyncio.Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
        )
        self.keys = keys
        self.parsed = ParsedDocuments()

    async def current(self, key: StudentKey) -> dict[str, Any] | None:
        """The current document; ``StudentErasedError`` once the student is erased (their
        tombstone is read in the same round trip, from the same slot)."""
        tenant, student = key.tenant_id, key.student_id
        raw, erased = await self.client.mget(
            self.keys.current(tenant, student), self.keys.erased(tenant, student)
        )
        if erased is not None:
            raise StudentErasedError(student_aggregate_id(tenant, student))
        return None if raw is None else self.parsed.document(key, raw)

    async def close(self) -> None:
        await self.client.aclose()
