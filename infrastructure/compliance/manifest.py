"""Writing an export folder: record files whose every line carries its hash-chain value, and
the manifest that states, per file, the record count, the positions, the last chain value and
the file's digest (the format is ``infrastructure.compliance.hash_chain``).

Exports (``infrastructure.compliance.exports``) decide which records go where; this module
only writes them, so the chain and the manifest are made in one place, the place
``infrastructure.compliance.export_verify`` checks them against.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from domain.timestamps import format_timestamp
from infrastructure.compliance.hash_chain import (
    HASH_CHAIN,
    MANIFEST,
    SEED,
    canonical,
    cell,
    chain_start,
    header_digest,
    link,
)


@dataclass(slots=True)
class FileSummary:
    columns: tuple[str, ...] = ()
    records: int = 0
    first_position: int | None = None
    last_position: int | None = None
    chain: str = SEED
    sha256: str = ""


@dataclass(slots=True)
class ExportSummary:
    folder: Path
    files: dict[str, FileSummary] = field(default_factory=dict)
    manifest_sha256: str = ""  # worth keeping where the export's holder cannot change it


class Header:
    """The manifest's header, fixed before the first record: its digest starts every chain."""

    def __init__(self, about: dict[str, Any]) -> None:
        self.fields = {
            **about,
            "created_at": format_timestamp(datetime.now(UTC)),
            "hash_chain": HASH_CHAIN,
            "seed": SEED,
        }
        self.sha256 = header_digest(self.fields)
        self.chain_start = chain_start(self.sha256)


class ChainedWriter:
    """One record file of the export (JSONL or CSV, as the header's ``format`` says), each
    record written with the chain value that links it to the one before."""

    def __init__(self, folder: Path, stem: str, header: Header, columns: tuple[str, ...]) -> None:
        fmt = header.fields["format"]
        self.path = folder / f"{stem}.{fmt}"
        self.columns = columns
        self.summary = FileSummary(columns, chain=header.chain_start)
        self._stream: IO[str] = self.path.open("w", encoding="utf-8", newline="")
        self._csv = csv.writer(self._stream) if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writerow([*columns, "chain"])

    def write(self, record: dict[str, Any], position: int | None = None) -> None:
        body = canonical(record, self.columns)
        self.summary.chain = link(self.summary.chain, body)
        self.summary.records += 1
        if position is not None:
            if self.summary.first_position is None:
                self.summary.first_position = position
            self.summary.last_position = position
        if self._csv is not None:
            self._csv.writerow([cell(record.get(c)) for c in self.columns] + [self.summary.chain])
        else:
            line = {**record, "chain": self.summary.chain}
            self._stream.write(json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n")

    def close(self) -> FileSummary:
        self._stream.close()
        self.summary.sha256 = file_digest(self.path)
        return self.summary


def write_manifest(summary: ExportSummary, header: Header) -> None:
    manifest = {
        **header.fields,
        "header_sha256": header.sha256,
        "files": {
            name: {
                "records": f.records,
                "first_position": f.first_position,
                "last_position": f.last_position,
                "chain": f.chain,
                "sha256": f.sha256,
                "columns": list(f.columns),
            }
            for name, f in summary.files.items()
        },
    }
    path = summary.folder / MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    summary.manifest_sha256 = file_digest(path)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
