"""Process plumbing for the embedded servers: spawning a server in its own session, finding
and stopping what a crashed run left behind through ``/proc``, picking a port, reading a log.

Linux only, as the servers are: process state and groups come from ``/proc/<pid>/stat``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

LOOPBACK = "127.0.0.1"
FIXED_PORT_RANGE = (20_000, 32_000)
LOG_TAIL_LINES = 40


def spawn(
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


def with_parent_death_signal(command: list[str], sig: signal.Signals) -> list[str]:
    """Have the kernel signal the server if this process dies without running atexit.

    The kernel ties the signal to the *thread* that spawned the child, so it is only asked for
    from the main thread.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None or threading.current_thread() is not threading.main_thread():
        return command
    return [setpriv, "--pdeathsig", sig.name.removeprefix("SIG"), "--", *command]


def free_port() -> int:
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


def read_pid(path: Path) -> int | None:
    try:
        first_line = path.read_text().splitlines()[0]
        return int(first_line.strip())
    except (OSError, IndexError, ValueError):
        return None


def runs_program(pid: int, program: Path) -> bool:
    """Whether ``pid`` is alive and runs ``program`` (pids get reused after a crash)."""
    try:
        running = Path(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return False
    return process_state(pid) not in (None, "Z") and running == program


def signal_and_wait(pid: int, sig: signal.Signals, timeout: float) -> None:
    """Signal a process that is not our child and wait until it is gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process_state(pid) not in (None, "Z"):
        time.sleep(0.05)


def kill_group_members(group: int, program: Path) -> None:
    """Kill what is left of a leftover server's process group, e.g. orphaned backends."""
    with contextlib.suppress(OSError):
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            if _process_group(pid) == group and runs_program(pid, program):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, ..."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_state(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[0] if fields else None


def _process_group(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[2]) if fields and len(fields) > 2 else None


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the session our child was started in (its group id is its pid)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 16_384))
            text = log.read().decode(errors="replace")
    except OSError as error:
        return f"(log unreadable: {error})"
    return "\n".join(text.splitlines()[-lines:])
