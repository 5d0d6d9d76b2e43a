"""Verification of an export folder (issue 6, issue 11): nothing in the manifest is taken on
trust. The manifest must have the shape ``export_*`` writes (else ``ExportError``: it cannot be
verified at all); then every value it states is recomputed from the files or checked against
them, the set of files is the one the export's kind fixes, and nothing outside the folder is
read (file names are fixed by the kind, symbolic links are never followed).

What this cannot prove: the chain is unkeyed, so someone who rewrites files and manifest
consistently (recomputing every chain value and digest) makes an export that verifies. Only a
value kept out of their reach (the manifest's SHA-256, or a last chain value) tells that apart.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, BinaryIO

from infrastructure.compliance.hash_chain import (
    FILE_FIELDS,
    FILES,
    FORMATS,
    HASH_CHAIN,
    HASH_CHAIN_V1,
    HEADER_FIELDS,
    MANIFEST,
    SEED,
    ExportError,
    canonical,
    cell,
    chain_start,
    expected_files,
    header_digest,
    link,
)

MANIFEST_FIELDS = frozenset({"header_sha256", "files"})


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class _Manifest:
    header: dict[str, Any]
    header_sha256: str | None
    files: dict[str, dict[str, Any]]
    extra_fields: tuple[str, ...]
    sha256: str = ""

    @property
    def kind(self) -> str:
        return str(self.header["kind"])

    @property
    def fmt(self) -> str:
        return str(self.header["format"])


def verify_export(folder: Path, manifest_sha256: str | None = None) -> list[Problem]:
    """Every way the folder differs from what its manifest and chains promise (empty: intact).
    With ``manifest_sha256`` (kept since the export was made), the manifest must be that one.
    Raises ``ExportError`` when there is no readable, well-formed manifest."""
    manifest = _read_manifest(folder)
    problems = _header_problems(manifest) + _file_set_problems(folder, manifest)
    if manifest_sha256 is not None and manifest_sha256.lower() != manifest.sha256:
        problems.insert(0, Problem(MANIFEST, None, "not the manifest whose SHA-256 was given"))
    start = SEED if manifest.header_sha256 is None else chain_start(manifest.header_sha256)
    counts: dict[str, int] = {}
    for name, columns in expected_files(manifest.kind, manifest.fmt).items():
        entry = manifest.files.get(name)
        if entry is not None:
            checker = _FileCheck(name, columns, entry, manifest, start)
            problems += checker.run(folder)
            counts[name.partition(".")[0]] = checker.count
    return problems + _erased_problems(manifest, counts)


# --- the manifest -------------------------------------------------------------------------------


def _read_manifest(folder: Path) -> _Manifest:
    path = folder / MANIFEST
    try:
        with _open_member(folder, MANIFEST) as stream:
            content = stream.read()
        manifest = _parse_manifest(json.loads(content.decode("utf-8")))
        return replace(manifest, sha256=hashlib.sha256(content).hexdigest())
    except FileNotFoundError:
        raise ExportError(f"{folder}: not an export folder (no {MANIFEST})") from None
    except _NotARegularFileError as exc:
        raise ExportError(f"{path}: {exc}; not followed") from None
    except OSError as exc:
        raise ExportError(f"{path}: cannot be read ({exc.strerror})") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ExportError(f"{path}: not a readable manifest ({exc})") from None


def _parse_manifest(raw: Any) -> _Manifest:
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    if not isinstance(raw.get("files"), dict):
        raise ValueError("files must be an object")
    for name, entry in raw["files"].items():
        _check_file_entry(name, entry)
    kind = raw.get("kind")
    if kind not in FILES:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(FILES)}")
    missing = [name for name in HEADER_FIELDS[kind] if name not in raw]
    if missing:
        raise ValueError(f"a {kind} manifest needs {', '.join(missing)}")
    header = {name: raw[name] for name in HEADER_FIELDS[kind]}
    _check_header_types(header)
    stated = raw.get("header_sha256")
    if stated is not None and not isinstance(stated, str):
        raise ValueError("header_sha256 must be text")
    extra = tuple(sorted(set(raw) - set(header) - MANIFEST_FIELDS))
    return _Manifest(header, stated, raw["files"], extra)


def _check_header_types(header: dict[str, Any]) -> None:
    if header["format"] not in FORMATS:
        raise ValueError(f"unknown format {header['format']!r}")
    for name in ("tenant_id", "student_id", "created_at", "hash_chain", "seed"):
        if name in header and not isinstance(header[name], str):
            raise ValueError(f"{name} must be text")
    if "erased" in header and not isinstance(header["erased"], bool):
        raise ValueError("erased must be true or false")
    for name in ("from", "to"):
        if name in header:
            date.fromisoformat(header[name])
    datetime.fromisoformat(header["created_at"])


def _check_file_entry(name: str, entry: Any) -> None:
    """Each file entry names a file of the export folder itself and says what to expect."""
    if not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"file name {name!r} is not a file of the export folder")
    if not isinstance(entry, dict):
        raise ValueError(f"{name}: not an object")
    columns = entry.get("columns")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise ValueError(f"{name}: columns must be a list of names")
    records = entry.get("records")
    if not isinstance(records, int) or isinstance(records, bool) or records < 0:
        raise ValueError(f"{name}: records must be a number")
    if not isinstance(entry.get("chain"), str) or not isinstance(entry.get("sha256"), str):
        raise ValueError(f"{name}: chain and sha256 must be text")
    for bound in ("first_position", "last_position"):
        value = entry.get(bound)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ValueError(f"{name}: {bound} must be a number or null")


def _header_problems(manifest: _Manifest) -> list[Problem]:
    problems = [Problem(MANIFEST, None, f"unexpected field {n!r}") for n in manifest.extra_fields]
    header = manifest.header
    if header["seed"] != SEED:
        problems.append(Problem(MANIFEST, None, "seed differs from the export format's"))
    if manifest.header_sha256 is None:
        if header["hash_chain"] != HASH_CHAIN_V1:
            problems.append(Problem(MANIFEST, None, "header_sha256 is missing"))
    else:
        if header["hash_chain"] != HASH_CHAIN:
            problems.append(Problem(MANIFEST, None, "hash_chain is not the formula used"))
        if header_digest(header) != manifest.header_sha256:
            fields = ", ".join(HEADER_FIELDS[manifest.kind])
            problems.append(
                Problem(MANIFEST, None, f"header edited: {fields} do not hash to header_sha256")
            )
    if "from" in header and date.fromisoformat(header["from"]) > date.fromisoformat(header["to"]):
        problems.append(Problem(MANIFEST, None, "from is after to"))
    return problems


def _file_set_problems(folder: Path, manifest: _Manifest) -> list[Problem]:
    """An export of a kind holds exactly that kind's files: none missing, none added."""
    expected = expected_files(manifest.kind, manifest.fmt)
    listed = ", ".join(expected)
    problems = [
        Problem(name, None, f"not in the manifest (a {manifest.kind} export has {listed})")
        for name in expected
        if name not in manifest.files
    ]
    problems += [
        Problem(name, None, f"named in the manifest, but not a file of a {manifest.kind} export")
        for name in manifest.files
        if name not in expected
    ]
    present = sorted(entry.name for entry in os.scandir(folder))
    problems += [
        Problem(name, None, "not part of the export")
        for name in present
        if name != MANIFEST and name not in expected
    ]
    return problems


def _erased_problems(manifest: _Manifest, counts: dict[str, int]) -> list[Problem]:
    """A subject export of an erased student holds no events and no mastery; of any other
    student, at least one event (``export_subject`` refuses a student it knows nothing of)."""
    erased = manifest.header.get("erased")
    if erased is None or "events" not in counts:
        return []
    held = counts["events"] + counts.get("mastery", 0)
    if erased and held:
        return [Problem(MANIFEST, None, f"erased is true, but the export holds {held} records")]
    if not erased and not counts["events"]:
        return [Problem(MANIFEST, None, "erased is false, but the export holds no events")]
    return []


# --- the files ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _FileCheck:
    """One file against its manifest entry and the header: chain, count, digest, columns,
    positions, and each record's tenant, student and date."""

    name: str
    columns: tuple[str, ...]
    entry: dict[str, Any]
    manifest: _Manifest
    chain: str
    count: int = 0
    problems: list[Problem] = field(default_factory=list)
    _reported: set[str] = field(default_factory=set)
    first_position: int | None = None
    last_position: int | None = None

    def run(self, folder: Path) -> list[Problem]:
        for extra in sorted(set(self.entry) - set(FILE_FIELDS)):
            self._report(f"field {extra}", None, f"unexpected field {extra!r} in the manifest")
        if self.entry["columns"] != list(self.columns):
            self._report("columns", None, f"columns differ from a {self.manifest.kind} export's")
        try:
            with _open_member(folder, self.name) as stream:
                self._read(stream)
                if not self.problems:
                    stream.seek(0)
                    if _digest(stream) != self.entry["sha256"]:
                        self._report("digest", None, "file digest differs from the manifest")
        except FileNotFoundError:
            return [Problem(self.name, None, "file is missing")]
        except _NotARegularFileError as exc:
            return [Problem(self.name, None, f"{exc}; not followed")]
        except (csv.Error, OSError) as exc:
            return [Problem(self.name, None, f"unreadable after {self.count} records: {exc}")]
        return self.problems

    def _read(self, stream: BinaryIO) -> None:
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
        try:
            for line, record, stated in self._records(text):
                self.count += 1
                self.chain = link(self.chain, canonical(record, self.columns))
                if stated != self.chain:
                    self._report(
                        "chain", line, "record altered, or a record before it removed or reordered"
                    )
                    self.chain = stated  # carry on from what the file says, to report one break
                self._check_record(line, {k: cell(v) for k, v in record.items()})
        finally:
            text.detach()
        self._check_totals()

    def _records(self, stream: IO[str]) -> Iterator[tuple[int, dict[str, Any], str]]:
        """Each record with its line number and stated chain value; bytes that are not UTF-8
        read as U+FFFD, so such a line fails its link like any other altered record."""
        if self.manifest.fmt == "csv":
            reader = csv.DictReader(stream)
            if list(reader.fieldnames or ()) != [*self.columns, "chain"]:
                self._report("header", 1, "header row differs from the export's columns")
            for row in reader:
                stated = row.pop("chain", "") or ""
                yield reader.line_num, {str(k): v or "" for k, v in row.items()}, stated
            return
        for number, text in enumerate(stream, start=1):
            try:
                record = json.loads(text)
            except json.JSONDecodeError:
                yield number, {"unreadable": text}, ""
                continue
            stated = record.pop("chain", "") if isinstance(record, dict) else ""
            yield number, record if isinstance(record, dict) else {"value": record}, str(stated)

    def _check_record(self, line: int, cells: dict[str, str]) -> None:
        stem = self.name.partition(".")[0]
        header = self.manifest.header
        if stem == "events":
            self._check_position(line, cells.get("position", ""))
        if stem == "mastery":
            cells = _document_identity(cells.get("document", ""))
        elif stem == "events" and cells.get("erased") == "true" and "student_id" not in header:
            return  # an erased student's event in an audit export: no tenant, no date to check
        self._expect(line, cells, "tenant_id", header["tenant_id"])
        if "student_id" in header:
            self._expect(line, cells, "student_id", header["student_id"])
        if "from" in header and stem != "mastery":
            moment = cells.get("timestamp" if stem == "events" else "at", "")
            self._check_date(line, moment)

    def _expect(self, line: int, cells: dict[str, str], name: str, stated: str) -> None:
        if cells.get(name, "") != stated:
            found = cells.get(name, "")
            self._report(name, line, f"{name} {found!r}, the manifest says {stated!r}")

    def _check_date(self, line: int, moment: str) -> None:
        start = date.fromisoformat(self.manifest.header["from"])
        end = date.fromisoformat(self.manifest.header["to"])
        try:
            day = datetime.fromisoformat(moment).date()
        except ValueError:
            self._report("date", line, f"time {moment!r} is not a timestamp")
            return
        if not start <= day <= end:
            self._report("date", line, f"dated {day}, outside the manifest's {start} to {end}")

    def _check_position(self, line: int, text: str) -> None:
        try:
            position = int(text)
        except ValueError:
            self._report("position", line, f"position {text!r} is not a number")
            return
        if self.last_position is not None and position <= self.last_position:
            self._report("order", line, "positions are not in store order")
        if self.first_position is None:
            self.first_position = position
        self.last_position = position

    def _check_totals(self) -> None:
        records = self.entry["records"]
        if self.count != records:
            self._report("records", None, f"{self.count} records, the manifest says {records}")
        elif self.chain != self.entry["chain"] and "chain" not in self._reported:
            self._report("chain", None, "the last chain value differs from the manifest")
        found_bounds = (
            ("first_position", self.first_position),
            ("last_position", self.last_position),
        )
        for bound, found in found_bounds:
            if self.entry.get(bound) != found:
                stated = self.entry.get(bound)
                self._report(bound, None, f"{bound} is {found}, the manifest says {stated}")

    def _report(self, check: str, line: int | None, reason: str) -> None:
        """One problem per check and file: the first place it shows."""
        if check not in self._reported:
            self._reported.add(check)
            self.problems.append(Problem(self.name, line, reason))


def _document_identity(text: str) -> dict[str, str]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return {}
    if not isinstance(document, dict):
        return {}
    return {k: cell(document.get(k)) for k in ("tenant_id", "student_id")}


# --- reading inside the folder only ---------------------------------------------------------------


class _NotARegularFileError(Exception):
    """A member of the export folder that is a symbolic link, a folder or a device."""


def _open_member(folder: Path, name: str) -> BinaryIO:
    """``folder/name`` opened without following a symbolic link; only a regular file."""
    try:
        descriptor = os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        if (folder / name).is_symlink():
            raise _NotARegularFileError("is a symbolic link") from None
        raise
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise _NotARegularFileError("is not a regular file")
    return os.fdopen(descriptor, "rb")


def _digest(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: stream.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()
