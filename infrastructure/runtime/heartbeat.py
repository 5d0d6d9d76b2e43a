"""Heartbeat files: what each supervised worker last said about itself, for ``mastery ready``.

A worker process cannot be asked over HTTP (the consumer, projector and publisher serve
nothing), so each supervised worker writes its health to ``<directory>/<name>.<pid>.json``:
its state (running, backing off, standby, stopped), whether it leads, since when, when it
last progressed, its position and lag, and when the file was written. A file is replaced
atomically (written beside it, then renamed), so a reader never sees half of one.

Files are written from the worker's own thread whenever it reports (at most once per
``interval``, at once on a change of state), so a file that is not renewed means a worker that
is not running its loop: a hung or frozen worker shows as a stale file. A file whose process is
gone is ignored by readers, and removed by its writer on a clean stop.

Heartbeats are written only in a process whose entry point asked for them (``enable``): the
worker commands, not tests or libraries that construct workers in-process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)

DEFAULT_DIRECTORY = Path(tempfile.gettempdir()) / "mastery-health"
INTERVAL_SECONDS = 1.0
SUFFIX = ".json"


class HeartbeatFile:
    """One worker's file; ``write`` never raises (a full disk must not stop the worker)."""

    def __init__(self, directory: Path, name: str, interval: float = INTERVAL_SECONDS) -> None:
        self.path = directory / f"{name}.{os.getpid()}{SUFFIX}"
        self.interval = interval
        self._lock = threading.Lock()
        self._written = 0.0
        self._failed = False

    def write(self, content: dict[str, Any], *, force: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            if not force and now - self._written < self.interval:
                return
            self._written = now
            try:
                self._replace({**content, "pid": os.getpid(), "written_at": time.time()})
                self._failed = False
            except OSError as error:
                if not self._failed:  # once per run of failures, not once per report
                    log.warning("heartbeat %s not written: %s", self.path, error)
                self._failed = True

    def _replace(self, content: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".beat-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(orjson.dumps(content))
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def remove(self) -> None:
        with self._lock, contextlib.suppress(OSError):
            self.path.unlink()


_enabled: dict[str, Path] = {}  # the process's heartbeat folder, once an entry point set it


def enable(directory: Path) -> None:
    """Workers created from now on in this process write heartbeats under ``directory``."""
    _enabled["directory"] = directory


def disable() -> None:
    _enabled.clear()


def directory() -> Path | None:
    """Where this process's workers write heartbeats (None: they do not)."""
    return _enabled.get("directory")


def for_worker(name: str) -> HeartbeatFile | None:
    folder = directory()
    return None if folder is None else HeartbeatFile(folder, name)


# --- reading (mastery ready) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    healthy: bool
    line: str


def read_beats(directory: Path, name: str) -> list[dict[str, Any]]:
    """The heartbeats of live processes' workers called ``name``."""
    beats = []
    for path in sorted(directory.glob(f"{name}.*{SUFFIX}")):
        pid = path.name[len(name) + 1 : -len(SUFFIX)]
        if not pid.isdigit() or not _alive(int(pid)):
            continue
        try:
            content = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue  # removed meanwhile: its worker stopped
        if isinstance(content, dict):
            beats.append(content)
    return beats


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def verdict(name: str, beat: dict[str, Any], max_age: float, now: float) -> Verdict:
    """Healthy: renewed within ``max_age`` seconds and running or standing by."""
    age = now - float(beat.get("written_at", 0.0))
    state = str(beat.get("state", "unknown"))
    if age > max_age:
        return Verdict(False, f"{name}: stale heartbeat, last written {age:.0f} s ago ({state})")
    if state == "backing off":
        return Verdict(False, f"{name}: backing off: {beat.get('last_error')}")
    if state == "standby":
        since = _iso(beat.get("since"))
        return Verdict(True, f"{name}: standby, waiting for leadership since {since}")
    if state != "running":
        return Verdict(False, f"{name}: {state}")
    return Verdict(True, f"{name}: {_running(beat, now)}")


def _running(beat: dict[str, Any], now: float) -> str:
    parts = []
    if beat.get("leadership") == "leader":
        parts.append(f"leader (term {beat.get('term')}) since {_iso(beat.get('since'))}")
    else:
        parts.append("running")
    progressed = beat.get("last_progress_at")
    if progressed is not None:
        parts.append(f"last progress {max(0.0, now - float(progressed)):.1f} s ago")
    if beat.get("position") is not None:
        parts.append(f"position {beat['position']}")
    if beat.get("lag") is not None:
        parts.append(f"lag {beat['lag']}")
    return ", ".join(parts)


def _iso(stamp: object) -> str:
    if not isinstance(stamp, (int, float)):
        return "?"
    moment = datetime.fromtimestamp(stamp, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
