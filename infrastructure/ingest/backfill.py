"""File backfill: stream a JSONL or CSV file through the ingest path in batches.

Each batch is committed atomically with its idempotency entries, so an interrupted backfill
can simply be run again: what was recorded is reported as duplicate, the rest is recorded.
Every line that is not accepted (rejected or conflicting) goes to the rejects file with its
line number, reasons and original text.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Protocol

from infrastructure.event_store.write_results import Status
from infrastructure.ingest.files import SourceRecord, Translate, read_records
from infrastructure.ingest.service import IngestReport, IngestService, Outcome
from infrastructure.runtime import gc_pacing as collector


class Partition(Protocol):
    def owns(self, item: object) -> bool: ...


@dataclass(slots=True)
class BackfillSummary:
    path: Path
    rejects_path: Path
    counts: Counter[str] = field(default_factory=Counter)
    position: int | None = None

    @property
    def not_accepted(self) -> int:  # ignored statements are accepted: nothing to correct
        return self.counts[Status.REJECTED.value] + self.counts[Status.CONFLICT.value]


def default_rejects_path(path: Path) -> Path:
    return path.with_name(path.name + ".rejects.jsonl")


def backfill_file(
    service: IngestService,
    path: Path,
    rejects_path: Path | None = None,
    *,
    on_progress: Callable[[int], None] = lambda _: None,
    partition: Partition | None = None,
    translate: Translate | None = None,
) -> BackfillSummary:
    """Ingest every record of ``path`` (of ``partition``'s students, if given); with
    ``translate``, the file holds xAPI statements, each turned into its ingest item.

    ``on_progress`` gets the bytes read so far.
    """
    summary = BackfillSummary(path, rejects_path or default_rejects_path(path))
    with (
        path.open("rb") as stream,
        summary.rejects_path.open("w", encoding="utf-8") as rejects,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="backfill-writer") as writer,
    ):
        # Batch N is written (database I/O) while batch N+1 is read and validated.
        in_flight: tuple[list[SourceRecord], Future[IngestReport], int] | None = None
        records = read_records(path, stream, translate)
        if partition is not None:
            records = (record for record in records if partition.owns(record.item))
        with collector.Paced() as paced:  # the aggregate cache is large and long-lived
            for batch in _batches(records, service.batch_size):
                validated = service.validate([record.item for record in batch])
                if in_flight is not None:
                    _account(summary, rejects, path, *in_flight, on_progress)
                in_flight = (batch, writer.submit(service.record, validated), _tell(stream))
                paced.tick()
        if in_flight is not None:
            _account(summary, rejects, path, *in_flight, on_progress)
    return summary


def _account(
    summary: BackfillSummary,
    rejects: IO[str],
    path: Path,
    batch: list[SourceRecord],
    written: Future[IngestReport],
    offset: int,
    on_progress: Callable[[int], None],
) -> None:
    report = written.result()
    for record, outcome in zip(batch, report.outcomes, strict=True):
        summary.counts[outcome.status.value] += 1
        if outcome.status in (Status.REJECTED, Status.CONFLICT):
            _write_reject(rejects, path, record, outcome)
    if report.position is not None:
        summary.position = max(summary.position or 0, report.position)
    on_progress(offset)


def _batches(records: Iterator[SourceRecord], size: int) -> Iterator[list[SourceRecord]]:
    while batch := list(islice(records, size)):
        yield batch


def _write_reject(rejects: IO[str], path: Path, record: SourceRecord, outcome: Outcome) -> None:
    entry = {
        "file": str(path),
        "line": record.line,
        "event_id": outcome.event_id,
        "status": outcome.status.value,
        "code": outcome.code,
        "errors": [error.as_dict() for error in outcome.errors],
        "raw": record.raw,
    }
    rejects.write(json.dumps(entry, ensure_ascii=False) + "\n")


def _tell(stream: IO[bytes]) -> int:
    try:
        return stream.tell()
    except (OSError, ValueError):
        return 0
