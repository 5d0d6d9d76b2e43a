"""What an export folder is made of (issue 6, issue 11): the files an export of each kind holds
and their columns, the manifest's fields, and the hash chain that links every record to the one
before it and the first one to the manifest's header.

``chain_0 = sha256(seed + header_sha256)``, where ``header_sha256`` is the SHA-256 of the
manifest's header (every field but ``files`` and ``header_sha256`` itself) as JSON with sorted
keys; ``chain_i = sha256(chain_(i-1) + sha256(canonical(record_i)))``. Every chain value
therefore commits to the header too: whoever keeps one last chain value (or the manifest's
digest) out of the export holder's reach can later tell any edit of files or manifest.
Exports made before the header was bound (``hash_chain`` ending in ``chain_0 = seed``) start
their chains at the seed itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

SEED = hashlib.sha256(b"mastery-engine audit export v1").hexdigest()
HASH_CHAIN = (
    "chain_i = sha256(chain_(i-1) + sha256(record_i)), chain_0 = sha256(seed + header_sha256)"
)
HASH_CHAIN_V1 = "chain_i = sha256(chain_(i-1) + sha256(record_i)), chain_0 = seed"
FORMATS = ("jsonl", "csv")
MANIFEST = "manifest.json"

EVENT_COLUMNS = (
    "position", "event_id", "timestamp", "recorded_at", "tenant_id", "student_id", "class_id",
    "component", "topic", "data", "metadata", "erased", "aggregate_id",
)  # fmt: skip
ACCESS_COLUMNS = (
    "id", "at", "request_id", "subject", "role", "tenant_id", "student_id", "class_id", "route",
    "action", "outcome", "status",
)  # fmt: skip
MASTERY_COLUMNS = ("kind", "as_of", "document")

# Per kind of export: the files it holds (by stem, in writing order) and the header fields of
# its manifest.
FILES: dict[str, dict[str, tuple[str, ...]]] = {
    "audit": {"events": EVENT_COLUMNS, "access_log": ACCESS_COLUMNS},
    "subject": {"events": EVENT_COLUMNS, "mastery": MASTERY_COLUMNS, "access_log": ACCESS_COLUMNS},
}
HEADER_FIELDS: dict[str, tuple[str, ...]] = {
    "audit": ("kind", "tenant_id", "from", "to", "format", "created_at", "hash_chain", "seed"),
    "subject": (
        "kind", "tenant_id", "student_id", "erased", "format", "created_at", "hash_chain", "seed",
    ),
}  # fmt: skip
FILE_FIELDS = ("records", "first_position", "last_position", "chain", "sha256", "columns")


class ExportError(ValueError):
    """The export cannot be made or read (bad folder, unknown format, unreadable manifest...)."""


def expected_files(kind: str, fmt: str) -> dict[str, tuple[str, ...]]:
    """The exact set of files (name → columns) an export of this kind and format holds."""
    return {f"{stem}.{fmt}": columns for stem, columns in FILES[kind].items()}


def header_digest(header: Mapping[str, Any]) -> str:
    text = json.dumps(dict(header), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def chain_start(header_sha256: str) -> str:
    return hashlib.sha256((SEED + header_sha256).encode()).hexdigest()


def link(previous: str, body: str) -> str:
    return hashlib.sha256(
        (previous + hashlib.sha256(body.encode()).hexdigest()).encode()
    ).hexdigest()


def canonical(record: Mapping[str, Any], columns: tuple[str, ...]) -> str:
    """The text a record is hashed as: the file's columns (and any other key the record has,
    so an added field is caught), values as a CSV cell holds them, as JSON with sorted keys —
    so JSONL and CSV exports verify the same way."""
    projected = {column: cell(record.get(column)) for column in columns}
    projected.update({k: cell(v) for k, v in record.items() if k not in projected})
    return json.dumps(projected, sort_keys=True, ensure_ascii=False)


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list | bool):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)
