"""Who owns the embedded servers of a data folder, and who else is using them (SPEC §8).

Two ``flock`` locks and one record live in the data folder::

    data_dir/embedded.owner   held exclusively by the command that started the servers
    data_dir/embedded.users   held shared by every command using them (the owner included)
    data_dir/embedded.json    the owner's record: its pid and the servers' URLs and pids

The kernel releases a lock when its holder dies, however it dies, so a lock that can be taken
means its holder is really gone: unlike a pid in a file, it cannot be fooled by pid reuse.
A command that finds the owner lock held attaches to the recorded servers; the owner stops
its servers only once it can take the users lock exclusively, i.e. when nobody else is using
them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

OWNER_LOCK = "embedded.owner"
USERS_LOCK = "embedded.users"
RECORD = "embedded.json"
POLL_SECONDS = 0.1
WAIT_LOG_SECONDS = 10.0


class ClaimError(RuntimeError):
    """The data folder's servers cannot be owned or attached to; the message says why."""


@dataclass(frozen=True)
class ServersRecord:
    owner_pid: int
    urls: dict[str, str]
    pids: dict[str, int]


class FolderClaim:
    """This process's hold on a data folder's embedded servers: as their owner, or attached."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._users: int | None = None
        self._owner: int | None = None

    @property
    def is_owner(self) -> bool:
        return self._owner is not None

    def take(self, timeout: float) -> ServersRecord | None:
        """Become a user of the folder's servers: None if this process is now their owner
        (and must start them), else the record of the live owner's servers."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # The users lock first: an owner that is stopping its servers holds it exclusively,
        # so a newcomer waits until they are stopped and then takes over.
        self._users = _open_lock(self.data_dir / USERS_LOCK)
        try:
            _wait_for_lock(self._users, fcntl.LOCK_SH, timeout, "another command stopping them")
        except ClaimError:
            self.release()
            raise
        owner = _open_lock(self.data_dir / OWNER_LOCK)
        deadline = time.monotonic() + timeout
        while True:
            # Tried again while waiting: an owner that fails to start its servers, or dies
            # while starting them, lets go, and this command then starts them itself.
            if _try_lock(owner, fcntl.LOCK_EX):
                os.ftruncate(owner, 0)
                os.pwrite(owner, f"{os.getpid()}\n".encode(), 0)
                self._owner = owner
                (self.data_dir / RECORD).unlink(missing_ok=True)  # a dead owner's
                return None
            owner_pid = _read_int(self.data_dir / OWNER_LOCK)
            record = _read_record(self.data_dir / RECORD)
            if record is not None and record.owner_pid == owner_pid:
                os.close(owner)
                return record  # written once the owner's servers are ready
            if time.monotonic() > deadline:
                os.close(owner)
                self.release()
                raise ClaimError(
                    f"the embedded servers under {self.data_dir} belong to a running command "
                    f"(pid {owner_pid or '?'}) that has not finished starting them in "
                    f"{timeout:.0f}s; try again, or stop that command"
                )
            time.sleep(POLL_SECONDS)

    def record(self, urls: dict[str, str], pids: dict[str, int]) -> None:
        """Publish the servers this owner started, for later commands to attach to."""
        record = ServersRecord(owner_pid=os.getpid(), urls=urls, pids=pids)
        scratch = self.data_dir / f"{RECORD}.{os.getpid()}"
        scratch.write_text(json.dumps(asdict(record)), encoding="utf-8")
        scratch.replace(self.data_dir / RECORD)

    def wait_until_sole_user(self) -> None:
        """Block until no other command is using the servers (owner only)."""
        assert self._users is not None
        _wait_for_lock(self._users, fcntl.LOCK_EX, None, "other commands using them to finish")

    def release(self) -> None:
        if self._owner is not None:
            (self.data_dir / RECORD).unlink(missing_ok=True)
            os.close(self._owner)  # closing the descriptor releases its lock
            self._owner = None
        if self._users is not None:
            os.close(self._users)
            self._users = None


def _open_lock(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _try_lock(fd: int, operation: int) -> bool:
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _wait_for_lock(fd: int, operation: int, timeout: float | None, waiting_for: str) -> None:
    started = time.monotonic()
    next_log = started + 1.0
    while not _try_lock(fd, operation):
        now = time.monotonic()
        if timeout is not None and now - started > timeout:
            raise ClaimError(f"gave up after {timeout:.0f}s waiting for {waiting_for}")
        if now >= next_log:
            logger.warning("embedded servers: waiting for %s", waiting_for)
            next_log = now + WAIT_LOG_SECONDS
        time.sleep(POLL_SECONDS)


def _read_int(path: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(path.read_text().split()[0])
    return None


def _read_record(path: Path) -> ServersRecord | None:
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
        return ServersRecord(
            owner_pid=int(raw["owner_pid"]),
            urls={str(k): str(v) for k, v in raw["urls"].items()},
            pids={str(k): int(v) for k, v in raw["pids"].items()},
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
