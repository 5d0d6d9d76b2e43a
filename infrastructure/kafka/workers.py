"""Running the Kafka workers: the ingest consumer(s) and the results publisher.

Entry points (``mastery consume``, ``mastery publish``, ``mastery run``) resolve the settings
(URLs filled in, embedded servers started) and call these with a ``threading.Event`` that their
signal handlers set. Each worker opens its own event store from the settings, so a thread or
process never shares a connection pool or an aggregate cache with another.

The publisher runs only while it leads (``infrastructure.runtime.leadership``): any number of
publishers may run, one publishes and the others stand by. Consumers share the work through
their consumer group instead.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import structlog

from infrastructure.event_store.application import MasteryApplication
from infrastructure.event_store.lifecycle import opened_application
from infrastructure.ingest.service import IngestService
from infrastructure.kafka.consumer import IngestWorker
from infrastructure.kafka.publisher import TRACKING_NAME, ResultsPublisher
from infrastructure.runtime import heartbeat
from infrastructure.runtime.leadership import Leadership
from infrastructure.runtime.logging import configure_logging
from infrastructure.runtime.process_pool import parent_gone, start_child
from infrastructure.runtime.signals import stop_on_signals
from infrastructure.runtime.supervision import Backoff, Workers, describe, is_transient
from infrastructure.settings import Settings

log = structlog.get_logger(__name__)

CHILD_STOP_SECONDS = 60.0
EXIT_PARENT_GONE = 70  # an orphaned consumer child ends itself (EX_SOFTWARE)

Worker = Callable[[Settings, threading.Event], None]


def run_consumer(
    settings: Settings, stop: threading.Event, registry: Workers | None = None
) -> None:
    """One consumer-group member in this thread, until ``stop`` is set; its health goes to
    ``registry`` (the process's supervised workers) if given."""
    with ExitStack() as stack:
        application = _opened_when_available(settings, stop, stack)
        if application is None:
            return
        ingest = IngestService(application, batch_size=settings.ingest_batch_size)
        worker = IngestWorker(ingest, settings)
        if registry is not None:
            registry.add(worker.health)
        worker.run(stop)


def run_publisher(
    settings: Settings, stop: threading.Event, registry: Workers | None = None
) -> None:
    """The results publisher in this thread, until ``stop`` is set: publishing while it leads
    (the lock's stream is the tracked position's name), standing by otherwise."""
    with ExitStack() as stack:
        application = _opened_when_available(settings, stop, stack)
        if application is None:
            return
        publisher = ResultsPublisher(application, settings)
        if registry is not None:
            registry.add(publisher.health)
        leadership = Leadership(
            settings.require_database_url(), "publisher", TRACKING_NAME, publisher.health
        )
        publisher.fence = leadership.confirm
        leadership.lead(stop, publisher.run)


def _opened_when_available(
    settings: Settings, stop: threading.Event, stack: ExitStack
) -> MasteryApplication | None:
    """The worker's event store, entered on ``stack``; a database down at start is waited out
    like one lost later (SPEC §10). None if ``stop`` came first."""
    backoff = Backoff()
    while not stop.is_set():
        try:
            return stack.enter_context(opened_application(settings))
        except Exception as error:
            if not is_transient(error):
                raise
            log.warning("event_store_unavailable", error=describe(error))
            backoff.wait(stop)
    return None


def run_consumers(
    settings: Settings,
    stop: threading.Event,
    processes: int | None = None,
    registry: Workers | None = None,
) -> None:
    """``processes`` group members (default ``MASTERY_KAFKA_CONSUMER_WORKERS``): this process
    and ``processes - 1`` spawned children, which stop with it (SIGTERM, or its death)."""
    count = processes or settings.kafka_consumer_workers
    children = [
        start_child(partial(_child_consumer, settings, heartbeat.directory()), name=f"consumer-{i}")
        for i in range(1, count)
    ]
    try:
        run_consumer(settings, stop, registry)
    finally:
        for child in children:
            if child.pid is not None and child.is_alive():
                os.kill(child.pid, signal.SIGTERM)
        for child in children:
            child.join(CHILD_STOP_SECONDS)
            if child.is_alive():
                log.warning("consumer_child_killed", pid=child.pid)
                child.kill()


def run_workers(
    settings: Settings,
    stop: threading.Event,
    *,
    consumer: bool = True,
    publisher: bool = True,
    consumer_processes: int | None = None,
    registry: Workers | None = None,
    heartbeats: bool = False,
) -> None:
    """The consumer(s) and the publisher side by side, until ``stop`` is set; the health of
    those in this process goes to ``registry`` if given (readiness of ``mastery run``), and
    with ``heartbeats`` every worker's, child processes' included, to its heartbeat file under
    ``MASTERY_HEALTH_DIR`` (``mastery ready``).

    The workers are supervised and leave only on ``stop``; should one still fail, the others
    are stopped and the failure is raised.
    """
    if heartbeats:
        heartbeat.enable(settings.health_dir)
    failures: list[BaseException] = []

    def guarded(worker: Worker) -> Callable[[], None]:
        def target() -> None:
            try:
                worker(settings, stop)
            except BaseException as error:
                log.exception("worker_failed", worker=getattr(worker, "__name__", "?"))
                failures.append(error)
                stop.set()

        return target

    workers: list[Worker] = []
    if consumer:
        workers.append(lambda s, e: run_consumers(s, e, consumer_processes, registry))
    if publisher:
        workers.append(lambda s, e: run_publisher(s, e, registry))
    threads = [
        threading.Thread(target=guarded(w), name=f"kafka-{i}") for i, w in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def _child_consumer(settings: Settings, heartbeats: Path | None) -> None:
    configure_logging()
    if heartbeats is not None:
        heartbeat.enable(heartbeats)
    stop = stop_on_signals(interrupt=False)  # the parent relays Ctrl-C as SIGTERM

    def watch_parent() -> None:
        while not stop.wait(1.0):
            if parent_gone():
                # The parent died without leaving the group, so the group waits out its session
                # timeout anyway: leaving gracefully would gain nothing, and a LeaveGroup in
                # the middle of a rebalance wedges tansu's group (docs/kafka.md). Die as the
                # parent did; whatever this process had not committed is re-delivered.
                log.warning("parent_gone")
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(EXIT_PARENT_GONE)

    threading.Thread(target=watch_parent, daemon=True).start()
    run_consumer(settings, stop)
