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

    async def current(self, key: StudentKey, keys: Keys | None = None) -> dict[str, Any] | None:
        """The current document (of the generation of ``keys``, default this reader's);
        ``StudentErasedError`` once the student is erased (their tombstone is read in the same
        round trip, from the same slot)."""
        keys = keys or self.keys
        tenant, student = key.tenant_id, key.student_id
        raw, erased = await self.client.mget(
            keys.current(tenant, student), keys.erased(tenant, student)
        )
        return self._document(key, raw, erased)

    async def current_and(
        self, key: StudentKey, keys: Keys, other: str
    ) -> tuple[dict[str, Any] | None, Any]:
        """The current document as ``current`` reads it, and the value of the key ``other``
        (the live generation's pointer) in the same round trip."""
        tenant, student = key.tenant_id, key.student_id
        pipe = self.client.pipeline(transaction=False)
        # GETs, not MGET: a cluster pipeline refuses MGET (each GET goes to its key's master).
        pipe.get(keys.current(tenant, student))
        pipe.get(keys.erased(tenant, student))
        pipe.get(other)
        raw, erased, value = await pipe.execute()
        return self._document(key, raw, erased), value

    async def get(self, name: str) -> Any:
        return await self.client.get(name)

    def _document(self, key: StudentKey, raw: Any, erased: Any) -> dict[str, Any] | None:
        if erased is not None:
            raise StudentErasedError(student_aggregate_id(key.tenant_id, key.student_id))
        return None if raw is None else self.parsed.document(key, raw)

    async def close(self) -> None:
        await self.client.aclose()
