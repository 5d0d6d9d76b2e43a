"""The one ISO 8601 ``Z`` formatter every document and message uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.timestamps import format_timestamp


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 1, 14, 10, 30, tzinfo=UTC), "2026-01-14T10:30:00Z"),
        (datetime(2026, 1, 14, 10, 30, 0, 120000, tzinfo=UTC), "2026-01-14T10:30:00.120000Z"),
        (datetime(1970, 1, 1, tzinfo=UTC), "1970-01-01T00:00:00Z"),
        (
            datetime(2026, 1, 14, 12, 30, tzinfo=timezone(timedelta(hours=2))),
            "2026-01-14T10:30:00Z",
        ),
        (
            datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            "2025-12-31T19:30:00Z",
        ),
        (datetime(2026, 1, 14, 10, 30, tzinfo=timezone(timedelta(0))), "2026-01-14T10:30:00Z"),
    ],
)
def test_a_moment_is_written_in_utc_with_z(moment: datetime, text: str) -> None:
    assert format_timestamp(moment) == text


@given(st.datetimes(timezones=st.just(UTC)))
def test_a_utc_moment_is_its_isoformat_with_z_for_the_offset(moment: datetime) -> None:
    # The sites that formatted without converting first only ever had UTC moments: for those
    # the one formatter writes what they wrote.
    assert format_timestamp(moment) == moment.isoformat().replace("+00:00", "Z")


@given(
    st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(9998, 1, 1),
        timezones=st.builds(
            timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
        ),
    )
)
def test_the_written_moment_reads_back_as_the_same_instant(moment: datetime) -> None:
    text = format_timestamp(moment)

    assert text.endswith("Z")
    assert datetime.fromisoformat(text.replace("Z", "+00:00")) == moment
