"""Reading backfill files: JSONL (one event per line) and CSV (SPEC §3 "Files"); and xAPI
statements, one per line or as the one JSON array an LRS export holds (docs/xapi.md).

Records are streamed one at a time so memory stays flat whatever the file size; a record that
cannot be read as an event becomes an ``InvalidEvent`` carrying its line number, never an error
that stops the file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from infrastructure.ingest.contract import MAX_EVENT_BYTES, FieldError, InvalidEvent, parse_json
from infrastructure.ingest.json_array import array_elements, starts_with_array

TOP_LEVEL_COLUMNS = (
    "event_id",
    "timestamp",
    "tenant_id",
    "student_id",
    "class_id",
    "component",
    "topic",
)
INT_COLUMNS = (
    "total_exercises",
    "completed_exercises",
    "total_questions",
    "correct_answers",
    "attempts",
)
FLOAT_COLUMNS = ("time_spent_seconds", "avg_code_quality", "correctness", "efficiency")
TEXT_COLUMNS = ("difficulty", "activity")
DATA_COLUMNS = INT_COLUMNS + FLOAT_COLUMNS + TEXT_COLUMNS
MAX_CSV_FIELD = 64 * 1024
FORMATS = ("events", "xapi")
# A parsed xAPI statement becomes an ingest item (infrastructure.xapi.translate).
Translate = Callable[[object], object]


class UnreadableFileError(OSError):
    """The file as a whole cannot be read (missing, a directory, bad CSV header...)."""


@dataclass(frozen=True, slots=True)
class SourceRecord:
    line: int
    raw: str
    item: object  # a parsed JSON value, or the InvalidEvent explaining why there is none


def file_format(path: Path, kind: str = "events") -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".csv" and kind == "events":
        return "csv"
    if kind == "xapi":
        raise UnreadableFileError(
            f"{path}: unknown file type {suffix!r} for statements; use .json or .jsonl"
        )
    raise UnreadableFileError(f"{path}: unknown file type {suffix!r}; use .jsonl or .csv")


def read_records(
    path: Path, stream: IO[bytes], translate: Translate | None = None
) -> Iterator[SourceRecord]:
    """The file's records; with ``translate``, xAPI statements (a JSON array, or one per
    line), each turned into its ingest item."""
    if translate is not None:
        file_format(path, "xapi")
        records = _array_records(stream) if starts_with_array(stream) else _jsonl_records(stream)
        for record in records:
            item = record.item
            translated = item if isinstance(item, InvalidEvent) else translate(item)
            yield SourceRecord(record.line, record.raw, translated)
    elif file_format(path) == "csv":
        yield from _csv_records(path, stream)
    else:
        yield from _jsonl_records(stream)


def _jsonl_records(stream: IO[bytes]) -> Iterator[SourceRecord]:
    for number, line in enumerate(stream, start=1):
        stripped = line.strip()
        if not stripped:
            continue
        yield _json_record(number, stripped)


def _array_records(stream: IO[bytes]) -> Iterator[SourceRecord]:
    for element in array_elements(stream, MAX_EVENT_BYTES + 1):
        yield _json_record(element.line, element.text.strip())


def _json_record(line: int, text: bytes) -> SourceRecord:
    raw = text.decode("utf-8", errors="replace")
    try:
        item: object = parse_json(text)
    except InvalidEvent as invalid:
        item = invalid
    return SourceRecord(line, raw, item)


def _csv_records(path: Path, stream: IO[bytes]) -> Iterator[SourceRecord]:
    csv.field_size_limit(MAX_CSV_FIELD)
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
    try:
        yield from _csv_rows(path, csv.reader(text))
    finally:
        text.detach()  # the caller owns (and closes) the byte stream


def _csv_rows(path: Path, reader: Any) -> Iterator[SourceRecord]:
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise UnreadableFileError(f"{path}: unreadable CSV header: {exc}") from None
    header = [column.strip() for column in header]
    unknown = sorted(set(header) - set(TOP_LEVEL_COLUMNS) - set(DATA_COLUMNS))
    if unknown:
        raise UnreadableFileError(f"{path}: unknown CSV columns: {', '.join(unknown)}")
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            error = FieldError("", f"unreadable CSV row: {exc}", "csv")
            yield SourceRecord(reader.line_num, "", InvalidEvent("validation_error", [error]))
            continue
        if not any(cell.strip() for cell in row):
            continue
        raw = ",".join(row)
        if len(row) != len(header):
            error = FieldError("", f"row has {len(row)} cells, header has {len(header)}", "csv")
            yield SourceRecord(reader.line_num, raw, InvalidEvent("validation_error", [error]))
            continue
        yield SourceRecord(reader.line_num, raw, _csv_event(dict(zip(header, row, strict=True))))


def _csv_event(row: dict[str, str]) -> object:
    event: dict[str, object] = {
        column: row[column] for column in TOP_LEVEL_COLUMNS if row.get(column, "") != ""
    }
    data: dict[str, object] = {}
    errors: list[FieldError] = []
    for column in DATA_COLUMNS:
        cell = row.get(column, "")
        if cell == "":
            continue
        try:
            if column in INT_COLUMNS:
                data[column] = int(cell)
            elif column in FLOAT_COLUMNS:
                data[column] = float(cell)
            else:
                data[column] = cell
        except ValueError:
            kind = "an integer" if column in INT_COLUMNS else "a number"
            errors.append(FieldError(f"data.{column}", f"must be {kind}, got {cell!r}", "type"))
    if errors:
        return InvalidEvent("validation_error", errors)
    event["data"] = data
    return event
