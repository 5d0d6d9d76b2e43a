"""Local PostgreSQL, Redis and Kafka-compatible servers for when no URLs are configured (SPEC §9).

Each server runs as a child process in its own session (so one signal reaches it and its
children), listens on a free loopback port, and keeps its data and log under one folder::

    data_dir/postgres/{data/, postgres.log, postgres.pid}
    data_dir/redis/{appendonly.aof, redis.log, redis.pid}
    data_dir/kafka/{kafka.log, kafka.pid}

Commands share a data folder's servers (SPEC §8, :mod:`infrastructure.embedded.data_folder`):
the first one starts them and owns them, a later one attaches to them and starts or stops
nothing, and the owner stops them only once no attached command is left. They are stopped by
:meth:`EmbeddedServers.stop`, at interpreter exit, and, where ``setpriv`` exists and the servers
were started from the main thread, by the kernel when the owner dies. A process left over from
a crash is found through its pid file and stopped before the folder is reused, and only when
its owner's lock shows the owner is gone.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from infrastructure.embedded.data_folder import ClaimError, FolderClaim, ServersRecord
from infrastructure.embedded.kafka import KafkaServer
from infrastructure.embedded.objects import ObjectStoreServer
from infrastructure.embedded.postgres import INITDB_TIMEOUT_SECONDS, PostgresServer
from infrastructure.embedded.redis import RedisServer
from infrastructure.embedded.server import READY_TIMEOUT_SECONDS, EmbeddedServerError, Server

logger = logging.getLogger(__name__)

# A command attaching to another's servers waits at most this long for them to be ready.
ATTACH_TIMEOUT_SECONDS = INITDB_TIMEOUT_SECONDS + 2 * READY_TIMEOUT_SECONDS
URL_VARIABLES = {
    "postgres": "MASTERY_DATABASE_URL",
    "redis": "MASTERY_REDIS_URL",
    "kafka": "MASTERY_KAFKA_BOOTSTRAP_SERVERS",
}


@dataclass(frozen=True)
class EmbeddedUrls:
    database_url: str | None
    redis_url: str | None
    kafka_bootstrap_servers: str | None


class EmbeddedServers:
    """Starts the requested local servers under ``data_dir`` and stops them again.

    Ports are chosen once and kept, so a stopped or restarted server comes back on the same
    address with the same data. The broker keeps its data in the embedded PostgreSQL (through
    the object store of :mod:`infrastructure.embedded.object_server`), which is therefore started
    with it even when its URL was not asked for.
    """

    def __init__(
        self, data_dir: Path, *, postgres: bool = True, redis: bool = True, kafka: bool = True
    ) -> None:
        root = data_dir.resolve()
        self._postgres_requested = postgres
        self._postgres = PostgresServer(root / "postgres") if postgres or kafka else None
        self._redis = RedisServer(root / "redis") if redis else None
        self._objects = (
            ObjectStoreServer(root / "objects", self._postgres)
            if kafka and self._postgres is not None
            else None
        )
        self._kafka = KafkaServer(root / "kafka", self._objects) if self._objects else None
        self._lock = threading.RLock()
        self._exit_hook_registered = False
        self._owner_pid = os.getpid()
        self._claim = FolderClaim(root)
        self._attached: EmbeddedUrls | None = None

    @property
    def attached(self) -> bool:
        """Whether these servers belong to another live command, which this one only uses."""
        return self._attached is not None

    def start(self) -> EmbeddedUrls:
        """Start every requested server that is not running and wait until all are ready.

        If another live command owns the folder's servers, attach to them instead: nothing is
        started, and :meth:`stop` will stop nothing.
        """
        with self._lock:
            if self._attached is not None:
                return self._attached
            if not self._claim.is_owner:
                record = self._take_claim()
                if record is not None:
                    self._attached = self._attach(record)
                    return self._attached
            self._register_exit_hook()
            try:
                for stage in self._stages():
                    # PostgreSQL goes last: its initdb overlaps with Redis starting up.
                    pending = [server for server in stage if not server.is_running()]
                    for server in pending:
                        server.launch()
                    for server in pending:
                        server.wait_until_ready()
                self._record()
            except BaseException:
                self.stop()
                raise
            return self.urls()

    def stop(self) -> None:
        """Stop every server this object started, once no other command uses them; safe to
        call more than once. An attached object only lets go of the servers."""
        with self._lock:
            if self._attached is not None:
                self._attached = None
                self._claim.release()
                return
            if self._claim.is_owner:
                self._claim.wait_until_sole_user()
            for stage in reversed(self._stages()):
                for server in stage:
                    server.request_stop()
                for server in stage:
                    server.wait_until_stopped()
            self._claim.release()
            self._unregister_exit_hook()

    def urls(self) -> EmbeddedUrls:
        if self._attached is not None:
            return self._attached
        return EmbeddedUrls(
            database_url=self._postgres.url()
            if self._postgres and self._postgres_requested
            else None,
            redis_url=self._redis.url() if self._redis else None,
            kafka_bootstrap_servers=self._kafka.url() if self._kafka else None,
        )

    def _take_claim(self) -> ServersRecord | None:
        try:
            return self._claim.take(ATTACH_TIMEOUT_SECONDS)
        except ClaimError as error:
            raise EmbeddedServerError(str(error)) from None

    def _attach(self, record: ServersRecord) -> EmbeddedUrls:
        missing = [name for name in self._requested() if name not in record.urls]
        if missing:
            self._claim.release()
            variables = ", ".join(URL_VARIABLES[name] for name in missing)
            raise EmbeddedServerError(
                f"the embedded servers under {self._claim.data_dir} belong to a running command "
                f"(pid {record.owner_pid}), which did not start {' and '.join(missing)}; "
                f"stop that command first, or set {variables}"
            )
        logger.info(
            "attached to the embedded servers of pid %d under %s",
            record.owner_pid,
            self._claim.data_dir,
        )
        return EmbeddedUrls(
            database_url=record.urls["postgres"] if self._postgres_requested else None,
            redis_url=record.urls["redis"] if self._redis else None,
            kafka_bootstrap_servers=record.urls["kafka"] if self._kafka else None,
        )

    def _record(self) -> None:
        urls: dict[str, str] = {}
        pids: dict[str, int] = {}
        for server in self._servers():
            url, pid = server.url(), server.pid()
            if url is not None and pid is not None:
                urls[server.name], pids[server.name] = url, pid
        self._claim.record(urls, pids)

    def stop_postgres(self) -> None:
        with self._lock:
            self._owned(self._postgres, "postgres").stop()

    def start_postgres(self) -> None:
        with self._lock:
            self._owned(self._postgres, "postgres").start()

    def restart_postgres(self) -> None:
        with self._lock:
            self._owned(self._postgres, "postgres").restart()

    def stop_kafka(self) -> None:
        with self._lock:
            self._owned(self._kafka, "kafka").stop()

    def start_kafka(self) -> None:
        with self._lock:
            self._owned(self._kafka, "kafka").start()

    def restart_kafka(self) -> None:
        """Restart the broker on the same port; it keeps its topics, messages and offsets."""
        with self._lock:
            self._owned(self._kafka, "kafka").restart()

    def restart_redis(self) -> None:
        with self._lock:
            self._owned(self._redis, "redis").restart()

    def __enter__(self) -> EmbeddedUrls:
        return self.start()

    def _owned(self, server: Server | None, name: str) -> Server:
        if self._attached is not None:
            raise EmbeddedServerError(
                f"embedded {name} belongs to another command; only its owner may stop it"
            )
        return _required(server, name)

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _servers(self) -> list[Server]:
        return [server for stage in self._stages() for server in stage]

    def _stages(self) -> list[list[Server]]:
        """Servers in start order: each stage needs the ones before it."""
        stages: list[list[Server | None]] = [
            [self._redis, self._postgres],
            [self._objects],
            [self._kafka],
        ]
        found = [[server for server in stage if server is not None] for stage in stages]
        return [stage for stage in found if stage]

    def _requested(self) -> list[str]:
        names = [("postgres", self._postgres_requested), ("redis", bool(self._redis))]
        return [name for name, wanted in [*names, ("kafka", bool(self._kafka))] if wanted]

    def _register_exit_hook(self) -> None:
        if not self._exit_hook_registered:
            self._owner_pid = os.getpid()
            atexit.register(self._stop_at_exit)
            self._exit_hook_registered = True

    def _unregister_exit_hook(self) -> None:
        if self._exit_hook_registered:
            atexit.unregister(self._stop_at_exit)
            self._exit_hook_registered = False

    def _stop_at_exit(self) -> None:
        if os.getpid() != self._owner_pid:
            return  # a forked child inherited the hook; the servers belong to its parent
        try:
            self.stop()
        except EmbeddedServerError:
            logger.exception("embedded servers did not stop cleanly at exit")


def _required(server: Server | None, name: str) -> Server:
    if server is None:
        raise EmbeddedServerError(f"embedded {name} was not requested")
    return server
