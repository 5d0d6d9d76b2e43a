"""The read models' Redis client and view, made from settings (for the bootstrap and for
worker processes, which build their own)."""

from __future__ import annotations

import redis

from infrastructure.redis_views.keys import Keys
from infrastructure.redis_views.view import RedisMasteryView
from infrastructure.settings import ConfigurationError, Settings


def redis_client(settings: Settings) -> redis.Redis:
    if settings.redis_url is None:
        raise ConfigurationError("MASTERY_REDIS_URL is not set")
    return redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        health_check_interval=30,
    )


def mastery_view(client: redis.Redis, settings: Settings) -> RedisMasteryView:
    return RedisMasteryView(client, Keys(settings.redis_prefix), settings.snapshot_ttl_days)
