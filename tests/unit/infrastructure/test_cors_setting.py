"""``MASTERY_CORS_ORIGINS`` (SPEC §7): off unless it lists origins, and only origins."""

from __future__ import annotations

import pytest

from infrastructure.settings import ConfigurationError, Settings


def cors(value: str) -> tuple[str, ...]:
    return Settings.from_env({"MASTERY_CORS_ORIGINS": value}).cors_origins


def test_cross_origin_access_is_off_by_default() -> None:
    assert Settings.from_env({}).cors_origins == ()
    assert cors("  ") == ()


def test_origins_are_a_comma_separated_list() -> None:
    assert cors("https://school.example, http://localhost:5173,") == (
        "https://school.example",
        "http://localhost:5173",
    )
    assert cors("*") == ("*",)


@pytest.mark.parametrize(
    "value",
    [
        "school.example",
        "https://school.example/",
        "https://school.example/app",
        "ftp://x",
        "https://",
    ],
)
def test_anything_but_an_origin_is_refused(value: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        cors(f"https://ok.example,{value}")
    assert str(raised.value) == (
        f"MASTERY_CORS_ORIGINS must list origins like https://host:port, got {value!r}"
    )
