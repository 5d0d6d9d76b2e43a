"""The hot read of the query API on the event loop: a student's current document, read with
redis.asyncio so a dashboard poll needs no thread-pool hop."""

from __future__ import annotations

from typing import Any

import redis.asyncio

from infrastructure.redis_views.keys import Keys
from infrastructure.redis_views.view import ParsedDocuments
from projections.view import StudentKey


class AsyncCurrentReader:
    def __init__(self, url: str, keys: Keys, timeout_seconds: float) -> None:
        self.client = redis.asyncio.Redis.from_url(
            url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds
        )
        self.keys = keys
        self.parsed = ParsedDocuments()

    async def current(self, key: StudentKey) -> dict[str, Any] | None:
        raw = await self.client.get(self.keys.current(key.tenant_id, key.student_id))
        return None if raw is None else self.parsed.document(key, raw)

    async def close(self) -> None:
        await self.client.aclose()
