"""One embedded server process: the life cycle every server shares.

A server launches on a free port, then keeps that port once it has been ready, so a stopped
or restarted server comes back on the same address with the same data. It probes until it
answers a real request, stops on its own signal, and before each launch stops what a crashed
run left behind on its folder (found through its pid file)::

    directory/{<name>.log, <name>.pid, its data}

Each kind of server (:mod:`~infrastructure.embedded.postgres`, ``redis``, ``objects``,
``kafka``) says how it is run and probed; :mod:`infrastructure.embedded.servers` starts them
in order.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import pwd
import signal
import subprocess
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from infrastructure.embedded.processes import (
    LOOPBACK,
    free_port,
    kill_group_members,
    read_pid,
    runs_program,
    signal_and_wait,
    signal_group,
    spawn,
    tail,
    with_parent_death_signal,
)

logger = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0
PORT_ATTEMPTS = 3


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started or stopped; the message has its log tail."""


class Server(ABC):
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

    def start(self) -> None:
        """Launch unless running, and wait until ready."""
        if not self.is_running():
            self.launch()
            self.wait_until_ready()

    def stop(self) -> None:
        self.request_stop()
        self.wait_until_stopped()

    def restart(self) -> None:
        self.stop()
        self.start()

    def launch(self) -> None:
        self.prepare()
        self._stop_leftovers()
        if self.port is None:
            self.port = free_port()
        command = with_parent_death_signal(self.command(self.port), self.stop_signal)
        self._process = spawn(command, self.log_path, self.run_as(), self.environment())
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
        signal_group(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(STOP_TIMEOUT_SECONDS)
        self._process = None
        self.pid_path.unlink(missing_ok=True)

    def _failure_message(self, reason: str) -> str:
        return (
            f"embedded {self.name} on {LOOPBACK}:{self.port} failed to start: {reason}\n"
            f"--- last lines of {self.log_path} ---\n{tail(self.log_path)}"
        )

    def _stop_leftovers(self) -> None:
        """Stop what a crashed run left behind on this folder, found through its pid files."""
        program = self.executable().resolve()
        for pid in dict.fromkeys(self._leftover_pids()):
            if runs_program(pid, program):
                logger.warning("stopping leftover %s (pid %d) from a previous run", self.name, pid)
                signal_and_wait(pid, self.stop_signal, STOP_TIMEOUT_SECONDS)
            kill_group_members(pid, program)
        self.pid_path.unlink(missing_ok=True)

    def _leftover_pids(self) -> list[int]:
        return [pid for pid in [read_pid(self.pid_path)] if pid is not None]


def package_dir(package: str) -> Path:
    """Locate an optional package's folder without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise EmbeddedServerError(
            f"package {package!r} is missing; install the 'embedded' extra "
            "or configure the server's URL"
        )
    return Path(spec.origin).parent
