"""A rollout under load (SPEC §4b), for tests/e2e/http/test_generations.py: readers hammering
``GET /v1/students/{id}/mastery`` from an async client, a writer ingesting events, and the
generation commands run meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import os
import queue
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from infrastructure.bootstrap import Container
from infrastructure.settings import Settings
from tests.e2e.http.support import free_port


@dataclass(frozen=True, slots=True)
class Answer:
    started: float
    ended: float
    student: str
    status: int
    body: dict[str, Any] | None


@dataclass
class Load:
    """``concurrency`` readers on an event loop in a process of their own (the test process
    is busy writing, projecting and building), until ``finish``."""

    base_url: str
    token: str
    students: list[str]
    concurrency: int = 24
    answers: list[Answer] = field(default_factory=list)
    _process: Any = None
    _queue: Any = None
    _stop: Any = None

    def start(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._queue, self._stop = context.Queue(), context.Event()
        arguments = (self.base_url, self.token, self.students, self.concurrency)
        self._process = context.Process(
            target=_read_until_stopped, args=(*arguments, self._stop, self._queue), daemon=True
        )
        self._process.start()

    def finish(self) -> None:
        self._stop.set()
        deadline = time.monotonic() + 60
        while self._process.is_alive() and time.monotonic() < deadline:
            self._drain()  # a child blocked on a full queue would never exit
            self._process.join(0.05)
        self._drain()

    def seen(self, generation: str, after: float = 0.0) -> int:
        self._drain()
        return sum(
            1
            for a in self.answers
            if a.started > after and a.body and a.body.get("generation") == generation
        )

    def _drain(self) -> None:
        while True:
            try:
                self.answers.append(Answer(*self._queue.get_nowait()))
            except queue.Empty:
                return


def _read_until_stopped(
    base_url: str, token: str, students: list[str], concurrency: int, stop: Any, out: Any
) -> None:
    asyncio.run(_readers(base_url, token, students, concurrency, stop, out))


async def _readers(
    base_url: str, token: str, students: list[str], concurrency: int, stop: Any, out: Any
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=30
    ) as client:

        async def reader(number: int) -> None:
            chooser = random.Random(number)
            while not stop.is_set():
                student = chooser.choice(students)
                started = time.monotonic()  # CLOCK_MONOTONIC: comparable across processes
                try:
                    response = await client.get(f"/v1/students/{student}/mastery")
                    status, body = response.status_code, response.json()
                except httpx.HTTPError as exc:  # a failed request is an answer too: status 0
                    status, body = 0, {"error": repr(exc)}
                out.put((started, time.monotonic(), student, status, body))

        await asyncio.gather(*(reader(n) for n in range(concurrency)))


@dataclass
class Writer:
    """Events for the students, one small batch every few milliseconds, until ``stop``."""

    container: Container
    tenant: str
    students: list[str]
    stop: threading.Event = field(default_factory=threading.Event)
    written: int = 0
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def finish(self) -> None:
        self.stop.set()
        assert self._thread is not None
        self._thread.join(60)

    def _run(self) -> None:
        counter = itertools.count()
        while not self.stop.is_set():
            batch = [quiz_event(self.tenant, s, next(counter), "w") for s in self.students[:5]]
            self.container.ingest.ingest(batch)
            self.written += len(batch)
            self.stop.wait(0.005)


@contextlib.contextmanager
def api_process(settings: Settings) -> Iterator[str]:
    """The API served by a uvicorn process of its own (its own GIL: the readers are not slowed
    by the writer, projector and build threads of the test process); yields its base URL."""
    port = free_port()
    variables = {
        "MASTERY_DATABASE_URL": settings.database_url,
        "MASTERY_REDIS_URL": settings.redis_url,
        "MASTERY_REDIS_PREFIX": settings.redis_prefix,
        "MASTERY_JWT_SECRET": settings.jwt_secret,
        "MASTERY_MASTER_KEY": settings.master_key,
        "MASTERY_LOG_LEVEL": "warning",
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "api.http.app:app_from_env"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--ws", "none"]
    command += ["--timeout-keep-alive", "60"]  # as support.running_server, for the same reason
    env = {**os.environ, **{k: v for k, v in variables.items() if v is not None}}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base_url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        assert process.poll() is None, "the API process exited"
        try:
            return httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        until(answering, 60, "the API process answers")
        yield base_url
    finally:
        process.terminate()
        process.wait(30)


def quiz_event(tenant: str, student: str, n: int, tag: str) -> dict[str, Any]:
    moment = datetime.now(UTC) - timedelta(days=n % 9, hours=1)
    return {
        "event_id": f"{tag}-{student}-{n}",
        "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tenant_id": tenant,
        "student_id": student,
        "class_id": "c1",
        "component": "quiz" if n % 3 else "completion",
        "topic": f"topic-{n % 4}",
        "data": (
            {"total_questions": 10, "correct_answers": (n * 7) % 11}
            if n % 3
            else {"total_exercises": 10, "completed_exercises": (n * 3) % 11}
        ),
    }


def until(condition: Callable[[], bool], seconds: float = 60.0, what: str = "") -> None:
    """Poll ``condition`` until it holds, failing after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not reached in {seconds} s: {what}"
        time.sleep(0.02)
