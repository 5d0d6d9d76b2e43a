"""How the read side sends its commands, the same on one Redis and on a Redis Cluster.

Commands go out in **stages**: a stage is a function that queues commands on a ``Batch``,
each command on ``batch.on(key)``, the pipeline that reaches the master of its key's slot. A
stage runs only once every command of the stages before it has run. On one Redis, where one
connection runs commands in the order they were sent, all the stages of a call go out as one
pipeline; on a cluster each stage is a round trip of its own, made of one pipeline per master.
A cluster runs the parts of a pipeline on several masters in any order (and a client killed
while sending may leave any subset of them sent), so ordering needs the stages.

The view routes a cluster's pipelines itself, from the cluster client's map of the slots,
instead of using redis-py's cluster pipeline: that one refuses ``evalsha``, and resolving the
keys of a script call costs it a ``COMMAND GETKEYS`` round trip per call. A stage that meets a
moved slot, a failover or a dropped connection is sent again, whole, once the map has been
refreshed: every command the view pipelines is idempotent (a script guarded by a position, a
score *set*, a member added or removed, a key deleted).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import redis
import redis.cluster
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    TryAgainError,
)

RedisClient = redis.Redis | redis.cluster.RedisCluster
Stage = Callable[["Batch"], object]  # queues commands on a batch (what it returns is ignored)
SCAN_BATCH = 1000
STAGE_ATTEMPTS = 4
RETRIED = (
    MovedError,
    AskError,
    TryAgainError,
    ClusterDownError,
    redis.ConnectionError,
    redis.TimeoutError,
)


class Batch:
    """Pipelines by master: ``on(key)`` is the pipeline to queue exactly one command on."""

    def __init__(self, client: RedisClient) -> None:
        self._cluster: Any = client if isinstance(client, redis.cluster.RedisCluster) else None
        self._single = None if self._cluster else client.pipeline(transaction=False)
        self._pipelines: dict[str, Any] = {}
        self._order: list[tuple[str, int]] = []  # (master, position there) of each command

    def on(self, key: str | bytes) -> Any:
        if self._single is not None:
            return self._single
        node = self._cluster.nodes_manager.get_node_from_slot(key_slot(_encoded(key)))
        pipe = self._pipelines.get(node.name)
        if pipe is None:
            pipe = self._pipelines[node.name] = node.redis_connection.pipeline(transaction=False)
        self._order.append((node.name, len(pipe)))
        return pipe

    def __len__(self) -> int:
        return len(self._single) if self._single is not None else len(self._order)

    def execute(self) -> list[Any]:
        """The replies in the order the commands were queued."""
        if self._single is not None:
            return self._single.execute() if len(self._single) else []
        replies = {name: pipe.execute() for name, pipe in self._pipelines.items()}
        return [replies[name][position] for name, position in self._order]


class Commands:
    def __init__(self, client: RedisClient) -> None:
        self.client = client
        self.cluster = isinstance(client, redis.cluster.RedisCluster)

    def run(self, *stages: Stage) -> list[list[Any]]:
        """Each stage's replies; a stage runs only once every command before it has run."""
        if not self.cluster:
            batch = Batch(self.client)
            bounds = [0]
            for stage in stages:
                stage(batch)
                bounds.append(len(batch))
            answered = batch.execute()
            return [answered[start:end] for start, end in itertools.pairwise(bounds)]
        return [self._run_on_cluster(stage) for stage in stages]

    def _run_on_cluster(self, stage: Stage) -> list[Any]:
        for attempt in itertools.count(1):
            batch = Batch(self.client)
            stage(batch)
            try:
                return batch.execute()
            except RETRIED:
                if attempt >= STAGE_ATTEMPTS:
                    raise
                self._refresh_slots()
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _refresh_slots(self) -> None:
        cluster: Any = self.client
        cluster.nodes_manager.initialize()

    def scan(self, pattern: str) -> Iterator[Any]:
        """Every key matching ``pattern``: on a cluster, scanned on every master."""
        if self.cluster:
            every_master = redis.cluster.RedisCluster.PRIMARIES
            yield from self.client.scan_iter(
                match=pattern, count=SCAN_BATCH, target_nodes=every_master
            )
        else:
            yield from self.client.scan_iter(match=pattern, count=SCAN_BATCH)

    def unlink(self, names: Sequence[Any]) -> None:
        """Delete keys of any slots: one UNLINK on one Redis, one per slot on a cluster (which
        refuses a command naming keys of two slots)."""
        if not names:
            return
        if not self.cluster:
            self.client.unlink(*names)
            return
        by_slot: defaultdict[int, list[Any]] = defaultdict(list)
        for name in names:
            by_slot[key_slot(_encoded(name))].append(name)

        def unlink(batch: Batch) -> None:
            for group in by_slot.values():
                unlink_in_slot(batch, group)

        self.run(unlink)


def unlink_in_slot(batch: Batch, names: Sequence[Any]) -> None:
    """Queue one UNLINK of keys that share a slot."""
    if names:
        batch.on(names[0]).unlink(*names)


def _encoded(key: str | bytes) -> bytes:
    return key if isinstance(key, bytes) else key.encode()
