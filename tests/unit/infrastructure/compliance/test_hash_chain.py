"""The export's hash chain (``infrastructure.compliance.hash_chain``), recomputed here from its
written definition with ``hashlib``: ``chain_0 = sha256(seed + header_sha256)`` and
``chain_i = sha256(chain_(i-1) + sha256(canonical(record_i)))``."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from infrastructure.compliance.hash_chain import (
    ACCESS_COLUMNS,
    EVENT_COLUMNS,
    HASH_CHAIN,
    SEED,
    canonical,
    cell,
    chain_start,
    expected_files,
    header_digest,
    link,
)

HEADER = {
    "kind": "audit",
    "tenant_id": "école",
    "from": "2026-05-01",
    "to": "2026-05-30",
    "format": "jsonl",
    "created_at": "2026-06-01T08:00:00Z",
    "hash_chain": HASH_CHAIN,
    "seed": SEED,
}
RECORDS: list[dict[str, Any]] = [
    {"position": 1, "event_id": "e1", "tenant_id": "école", "data": {"correct": 3, "total": 5}},
    {"position": 2, "event_id": "e2", "tenant_id": "école", "metadata": None},
    {"position": 5, "erased": True, "aggregate_id": "0b6f"},
]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def chain(start: str, records: list[dict[str, Any]]) -> list[str]:
    links, previous = [], start
    for record in records:
        previous = link(previous, canonical(record, EVENT_COLUMNS))
        links.append(previous)
    return links


def test_the_seed_is_the_digest_of_the_format_name() -> None:
    assert sha256("mastery-engine audit export v1") == SEED


def test_the_header_digest_is_of_its_json_with_sorted_keys_and_unescaped_text() -> None:
    text = json.dumps(HEADER, sort_keys=True, ensure_ascii=False)
    assert '"tenant_id": "école"' in text
    assert header_digest(HEADER) == sha256(text)
    assert header_digest(dict(reversed(HEADER.items()))) == header_digest(HEADER)


def test_any_header_field_changes_the_header_digest() -> None:
    for name in HEADER:
        assert header_digest({**HEADER, name: "changed"}) != header_digest(HEADER)


def test_the_chain_starts_from_the_seed_and_the_header_digest() -> None:
    digest = header_digest(HEADER)
    assert chain_start(digest) == sha256(SEED + digest)
    assert chain_start(header_digest({**HEADER, "to": "2026-05-31"})) != chain_start(digest)


def test_a_link_hashes_the_previous_value_and_the_digest_of_the_body() -> None:
    assert link("abc", "body") == sha256("abc" + sha256("body"))
    assert link("abd", "body") != link("abc", "body")


def test_a_cell_is_the_text_a_csv_cell_holds() -> None:
    assert cell(None) == ""
    assert cell("text") == "text"
    assert cell(42) == "42"
    assert cell(0.5) == "0.5"
    assert cell(True) == "true"
    assert cell(False) == "false"
    assert cell({"b": 1, "a": "é"}) == '{"a": "é", "b": 1}'
    assert cell([3, 1]) == "[3, 1]"


def test_the_canonical_record_holds_every_column_as_a_cell_with_sorted_keys() -> None:
    body = canonical({"position": 7, "data": {"b": 2, "a": 1}}, ("position", "data", "topic"))
    assert body == '{"data": "{\\"a\\": 1, \\"b\\": 2}", "position": "7", "topic": ""}'


def test_the_canonical_record_keeps_a_key_outside_the_columns() -> None:
    body = canonical({"position": 7, "added": "x"}, ("position",))
    assert json.loads(body) == {"added": "x", "position": "7"}


def test_a_jsonl_record_and_its_csv_cells_hash_alike() -> None:
    record = {"id": 3, "at": "2026-05-10T00:00:00Z", "status": 200, "student_id": None}
    cells = {column: cell(record.get(column)) for column in ACCESS_COLUMNS}
    assert canonical(record, ACCESS_COLUMNS) == canonical(cells, ACCESS_COLUMNS)


def test_a_chain_of_three_records_is_recomputed_from_its_definition() -> None:
    start = chain_start(header_digest(HEADER))
    header = json.dumps(HEADER, sort_keys=True, ensure_ascii=False)
    expected, previous = [], sha256(SEED + sha256(header))
    for record in RECORDS:
        projected = {column: cell(record.get(column)) for column in EVENT_COLUMNS}
        body = json.dumps(projected, sort_keys=True, ensure_ascii=False)
        previous = sha256(previous + sha256(body))
        expected.append(previous)
    assert chain(start, RECORDS) == expected
    assert len(set(expected)) == 3


def test_changing_a_record_changes_its_link_and_every_later_one() -> None:
    start = chain_start(header_digest(HEADER))
    original = chain(start, RECORDS)
    edited = chain(start, [RECORDS[0], {**RECORDS[1], "event_id": "e2x"}, RECORDS[2]])
    assert edited[0] == original[0]
    assert all(after != before for after, before in zip(edited[1:], original[1:], strict=True))


def test_changing_the_header_changes_every_link() -> None:
    original = chain(chain_start(header_digest(HEADER)), RECORDS)
    other = chain(chain_start(header_digest({**HEADER, "tenant_id": "other"})), RECORDS)
    assert all(a != b for a, b in zip(original, other, strict=True))


def test_each_kind_of_export_names_its_files_in_its_format() -> None:
    assert list(expected_files("audit", "csv")) == ["events.csv", "access_log.csv"]
    assert list(expected_files("subject", "jsonl")) == [
        "events.jsonl",
        "mastery.jsonl",
        "access_log.jsonl",
    ]
