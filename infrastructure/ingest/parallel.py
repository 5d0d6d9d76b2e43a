"""Backfill on several cores: the file is partitioned by student across worker processes.

Every worker reads the whole file (parsing a line is cheap) and ingests only the lines of the
students in its partition, so workers never write to the same aggregate and never contend.
Lines that name no student (unparseable, not an object) belong to partition 0. Each worker
writes its own rejects part; the parts are merged into one rejects file in line order. A
worker whose parent dies stops after its current batch, so a killed backfill leaves no
writer behind; re-running it is safe as always.
"""

from __future__ import annotations

import heapq
import json
import multiprocessing
import os
import zlib
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ALL_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infrastructure.event_store.lifecycle import opened_application
from infrastructure.ingest.backfill import BackfillSummary, backfill_file, default_rejects_path
from infrastructure.ingest.contract import DEFAULT_TENANT
from infrastructure.ingest.service import IngestService
from infrastructure.settings import Settings


@dataclass(frozen=True, slots=True)
class Partition:
    index: int
    count: int

    def owns(self, item: object) -> bool:
        return partition_of(item, self.count) == self.index


def partition_of(item: object, count: int) -> int:
    if not isinstance(item, dict):
        return 0
    student, tenant = item.get("student_id"), item.get("tenant_id", DEFAULT_TENANT)
    if not isinstance(student, str) or not isinstance(tenant, str):
        return 0
    return zlib.crc32(f"{tenant}/{student}".encode()) % count


_progress: Any = None  # shared array of bytes read, one slot per worker (set in each worker)
_parent: int | None = None


def parallel_backfill(
    settings: Settings,
    path: Path,
    rejects_path: Path | None = None,
    *,
    workers: int = 2,
    on_progress: Callable[[int], None] = lambda _: None,
) -> BackfillSummary:
    """Backfill ``path`` with ``workers`` processes; the summary covers the whole file."""
    final = rejects_path or default_rejects_path(path)
    parts = [final.with_name(f"{final.name}.part{index}") for index in range(workers)]
    context = multiprocessing.get_context("spawn")
    progress = context.Array("q", workers)
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(progress, os.getpid()),
    ) as pool:
        futures = [
            pool.submit(_run_partition, settings, path, parts[index], Partition(index, workers))
            for index in range(workers)
        ]
        while not all(future.done() for future in futures):
            on_progress(min(int(done) for done in progress[:]))
            wait(futures, timeout=0.2, return_when=ALL_COMPLETED)
        results = [future.result() for future in futures]
    summary = BackfillSummary(path, final)
    for counts, position in results:
        summary.counts.update(counts)
        if position is not None:
            summary.position = max(summary.position or 0, position)
    _merge_rejects(parts, final)
    return summary


def _init_worker(progress: Any, parent: int) -> None:
    global _progress, _parent
    _progress, _parent = progress, parent


def _run_partition(
    settings: Settings, path: Path, rejects: Path, partition: Partition
) -> tuple[Counter[str], int | None]:
    def report(done: int) -> None:
        if _parent is not None and os.getppid() != _parent:
            os._exit(1)  # the backfill was killed: stop writing
        if _progress is not None:
            _progress[partition.index] = done

    with opened_application(settings) as application:
        ingest = IngestService(application, batch_size=settings.ingest_batch_size)
        summary = backfill_file(ingest, path, rejects, on_progress=report, partition=partition)
    return summary.counts, summary.position


def _merge_rejects(parts: list[Path], final: Path) -> None:
    streams = [part.open(encoding="utf-8") for part in parts]
    try:
        with final.open("w", encoding="utf-8") as out:
            for line in heapq.merge(*streams, key=lambda entry: json.loads(entry)["line"]):
                out.write(line)
    finally:
        for stream in streams:
            stream.close()
        for part in parts:
            part.unlink(missing_ok=True)
