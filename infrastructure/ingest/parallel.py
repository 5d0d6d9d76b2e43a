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
import os
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from infrastructure.event_store.lifecycle import opened_application
from infrastructure.ingest.backfill import BackfillSummary, backfill_file, default_rejects_path
from infrastructure.ingest.contract import DEFAULT_TENANT
from infrastructure.ingest.service import IngestService
from infrastructure.runtime.process_pool import parent_gone, report_progress, run_parts
from infrastructure.settings import Settings
from infrastructure.xapi.translate import Translator, stored_times


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


def parallel_backfill(
    settings: Settings,
    path: Path,
    rejects_path: Path | None = None,
    *,
    workers: int = 2,
    on_progress: Callable[[int], None] = lambda _: None,
    xapi_tenant: str | None = None,
) -> BackfillSummary:
    """Backfill ``path`` with ``workers`` processes; the summary covers the whole file. With
    ``xapi_tenant``, the file holds xAPI statements of that tenant."""
    final = rejects_path or default_rejects_path(path)
    parts = [final.with_name(f"{final.name}.part{index}") for index in range(workers)]
    results = run_parts(
        [
            partial(
                _run_partition,
                settings,
                path,
                parts[index],
                Partition(index, workers),
                xapi_tenant,
            )
            for index in range(workers)
        ],
        on_progress=lambda done: on_progress(min(done)),
    )
    summary = BackfillSummary(path, final)
    for counts, position in results:
        summary.counts.update(counts)
        if position is not None:
            summary.position = max(summary.position or 0, position)
    _merge_rejects(parts, final)
    return summary


def _run_partition(
    settings: Settings, path: Path, rejects: Path, partition: Partition, xapi_tenant: str | None
) -> tuple[Counter[str], int | None]:
    def report(done: int) -> None:
        if parent_gone():
            os._exit(1)  # the backfill was killed: stop writing
        report_progress(done)

    with opened_application(settings) as application:
        ingest = IngestService(application, batch_size=settings.ingest_batch_size)
        translate = None
        if xapi_tenant is not None:
            translate = Translator.from_settings(settings).items_of(
                xapi_tenant, datetime.now(UTC), stored_times(application)
            )
        summary = backfill_file(
            ingest, path, rejects, on_progress=report, partition=partition, translate=translate
        )
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
