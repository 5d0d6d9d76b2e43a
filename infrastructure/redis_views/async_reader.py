"""The hot read of the query API on the event loop: a student's current document, read with
redis.asyncio so a dashboard poll needs no thread-pool hop. The client comes from
``connect.async_redis_client`` (one Redis or a cluster; how it retries is said there)."""

from __future__ import annotations

from typing import Any

from domain.errors import StudentErasedError
from domain.student_mastery import student_aggregate_id
from infrastructure.redis_views.connect import AsyncRedisClient
from infrastructure.redis_views.keys import Keys
from infrastructure.redis_views.view import ParsedDocuments
from projections.view import StudentKey


class AsyncCurrentReader:
    def __init__(self, client: AsyncRedisClient, keys: Keys) -> None:
        self.client = client
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
