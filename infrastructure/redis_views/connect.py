"""The read models' Redis clients and view, made from settings (for the bootstrap, the API's
hot read and worker processes, which build their own): the one place that makes clients.

``MASTERY_REDIS_CLUSTER=true`` makes them Redis Cluster clients, which learn the cluster's
nodes and slots from the node ``MASTERY_REDIS_URL`` names and send each command to the master of
its key's slot. Every command the read side sends stays within one slot (docs/projections.md,
"Redis Cluster"), so both kinds of client take the same commands.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff

from infrastructure.redis_views.commands import RedisClient
from infrastructure.redis_views.keys import Keys
from infrastructure.redis_views.view import RedisMasteryView
from infrastructure.settings import ConfigurationError, Settings

AsyncRedisClient = redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster


def redis_client(settings: Settings) -> RedisClient:
    url = _url(settings)
    if settings.redis_cluster:
        return redis.cluster.RedisCluster.from_url(
            url,
            socket_timeout=settings.redis_timeout_seconds,
            socket_connect_timeout=settings.redis_timeout_seconds,
        )
    return redis.Redis.from_url(
        url,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        health_check_interval=30,
    )


def async_redis_client(settings: Settings) -> AsyncRedisClient:
    """The API's client on the event loop. A pooled connection to a Redis that has since
    restarted is found broken only when used (the asyncio pool does not check it out the way
    the sync one does): a command failing with a connection error is retried once, at once, on
    a fresh connection, so the first read after a restart answers. On one Redis a timeout is
    not retried (a hung server still answers 503 quickly); a cluster client retries its own
    errors (timeouts included) once, after refreshing its map of the slots."""
    url = _url(settings)
    timeout = settings.redis_timeout_seconds
    if settings.redis_cluster:
        return redis.asyncio.cluster.RedisCluster.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=AsyncRetry(NoBackoff(), 1),
        )
    return redis.asyncio.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=AsyncRetry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
    )


def redis_answers(client: RedisClient) -> None:
    """Raise unless Redis answers: one PING, or on a cluster a PING to every master."""
    if isinstance(client, redis.cluster.RedisCluster):
        client.ping(target_nodes=redis.cluster.RedisCluster.PRIMARIES)
    else:
        client.ping()


def close_redis(client: RedisClient) -> None:
    """Close the client and its connections (a cluster client's ``close`` leaves each master's
    pooled connections open until they are garbage)."""
    if isinstance(client, redis.cluster.RedisCluster):
        cluster: Any = client
        for node in cluster.get_nodes():
            if node.redis_connection is not None:
                node.redis_connection.connection_pool.disconnect()
    client.close()


def mastery_view(client: RedisClient, settings: Settings) -> RedisMasteryView:
    return RedisMasteryView(client, Keys(settings.redis_prefix), settings.snapshot_ttl_days)


def _url(settings: Settings) -> str:
    if settings.redis_url is None:
        raise ConfigurationError("MASTERY_REDIS_URL is not set")
    return settings.redis_url
