"""The event transcoder reads back exactly what the library's own JSON transcoder reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, UUIDAsHex

from infrastructure.event_store.transcoder import EventJSONTranscoder


def transcoders() -> tuple[JSONTranscoder, EventJSONTranscoder]:
    library, ours = JSONTranscoder(), EventJSONTranscoder()
    for transcoder in (library, ours):
        transcoder.register(DatetimeAsISO())
        transcoder.register(UUIDAsHex())
    return library, ours


STATES: list[dict[str, Any]] = [
    {
        "timestamp": datetime(2026, 1, 14, 10, 30, tzinfo=UTC),
        "occurred_at": datetime(2026, 1, 14, 10, 29, 59, 123456, tzinfo=UTC),
        "event_id": "e-1",
        "data": {"total_exercises": 25, "completed_exercises": 20, "difficulty": "advanced"},
        "metadata_json": '{"_type_": "datetime_iso", "_data_": "not revived: it is text"}',
        "class_id": None,
    },
    {
        "nested": [[{"at": datetime(2025, 12, 31, 23, 59, tzinfo=UTC)}], {"id": UUID(int=7)}],
        "unicode": "Zoë ✓",
        "numbers": [0, -1, 0.1, 1e-7, 1_000_000],
        "two_keys_not_encoded": {"_type_": "x", "other": 1},
    },
]


@pytest.mark.parametrize("state", STATES)
def test_reads_what_the_library_wrote(state: dict[str, Any]) -> None:
    library, ours = transcoders()
    written = library.encode(state)
    assert ours.decode(written) == library.decode(written) == state


@pytest.mark.parametrize("state", STATES[:1])
def test_the_library_reads_what_it_writes(state: dict[str, Any]) -> None:
    library, ours = transcoders()
    assert library.decode(ours.encode(state)) == state


@pytest.mark.parametrize(
    "text",
    [
        '{"score": NaN, "at": {"_type_": "datetime_iso", "_data_": "2026-01-01T00:00:00+00:00"}}',
        '{"big": 123456789012345678901234567890}',
        '{"list": [1, -123456789012345678901234567890]}',
    ],
)
def test_states_orjson_refuses_fall_back_to_the_library(text: str) -> None:
    library, ours = transcoders()
    decoded = ours.decode(text.encode())
    assert json.dumps(decoded, default=str) == json.dumps(
        library.decode(text.encode()), default=str
    )


def test_an_unknown_encoded_type_is_an_error_as_in_the_library() -> None:
    _, ours = transcoders()
    with pytest.raises(Exception, match="not deserializable"):
        ours.decode(b'{"x": {"_type_": "mystery", "_data_": 1}}')
