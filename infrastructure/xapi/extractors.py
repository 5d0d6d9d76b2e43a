"""The named readings of a statement a mapping rule may use (``builtin`` extractors) and the
result facts its ``when`` may test. Each reading returns a JSON value, or None when the
statement does not hold what it reads (the learning event contract then says what is missing).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from infrastructure.xapi.statement import Statement

PROGRESS_EXTENSION = "https://w3id.org/xapi/cmi5/result/extensions/progress"
MAX_DENOMINATOR = 100  # a scaled score becomes the nearest fraction with at most 100 questions
MAX_LABEL = 64
RESULT_FACTS = ("score", "success", "completion", "progress", "duration", "response")
_DURATION_UNITS = {"Y": 365 * 86400, "M": 30 * 86400, "W": 7 * 86400, "D": 86400}
_TIME_UNITS = {"H": 3600, "M": 60, "S": 1}
_PART = re.compile(r"(\d+(?:\.\d+)?)([YMWDHS])")


def has_result_fact(statement: Statement, fact: str) -> bool:
    result = statement.result
    if fact == "progress":
        return isinstance(_progress(statement), int | float)
    if fact == "score":
        score = result.get("score", {})
        return "scaled" in score or ("raw" in score and "max" in score)
    return fact in result


def score_fraction(statement: Statement) -> Fraction | None:
    """The share of the result: raw within [min, max], else scaled (negative counts as 0),
    else success (1 or 0)."""
    result = statement.result
    score = result.get("score", {})
    if "raw" in score and "max" in score:
        low = score.get("min", min(0.0, score["raw"]))
        if score["max"] > low:
            return Fraction(score["raw"] - low) / Fraction(score["max"] - low)
    if "scaled" in score:
        return Fraction(max(0.0, score["scaled"]))
    if "success" in result:
        return Fraction(int(result["success"]))
    return None


def score_counts(statement: Statement) -> tuple[int, int] | None:
    """(correct, total): whole raw points as they are (raw 7 of max 10 is 7 of 10), any other
    share as the nearest fraction with a denominator of at most 100 (scaled 0.95 is 19 of 20)."""
    score = statement.result.get("score", {})
    if "raw" in score and "max" in score:
        low = score.get("min", min(0.0, score["raw"]))
        points = (score["raw"] - low, score["max"] - low)
        if all(float(p).is_integer() for p in points) and points[1] > 0:
            return int(points[0]), int(points[1])
    share = score_fraction(statement)
    if share is None:
        return None
    share = share.limit_denominator(MAX_DENOMINATOR)
    return share.numerator, share.denominator


def progress_counts(statement: Statement) -> tuple[int, int] | None:
    """(completed, total): the cmi5 progress extension as k of 100, else completion 1 or 0
    of 1."""
    progress = _progress(statement)
    if isinstance(progress, int | float) and not isinstance(progress, bool):
        return max(0, min(100, round(progress))), 100
    result = statement.result
    if "completion" in result:
        return int(result["completion"]), 1
    return None


def duration_seconds(statement: Statement) -> float | None:
    """``result.duration`` in seconds (a year taken as 365 days, a month as 30)."""
    duration = statement.result.get("duration")
    if duration is None:
        return None
    date_part, _, time_part = duration[1:].partition("T")
    total = 0.0
    for units, text in ((_DURATION_UNITS, date_part), (_TIME_UNITS, time_part)):
        for number, unit in _PART.findall(text):
            total += float(number) * units[unit]
    return total


def label(names: dict[str, str] | None, fallback: str) -> str:
    """A language map's en-US, en or first text, else ``fallback``; at most 64 characters."""
    text = ""
    if names:
        text = names.get("en-US") or names.get("en") or next(iter(names.values()), "")
    return (text.strip() or fallback)[:MAX_LABEL]


def _last_segment(iri: str) -> str:
    return re.split(r"[/#:]", iri.rstrip("/#"))[-1] or iri


def _progress(statement: Statement) -> Any:
    return statement.result.get("extensions", {}).get(PROGRESS_EXTENSION)


def _first(pair: tuple[int, int] | None) -> int | None:
    return None if pair is None else pair[0]


def _second(pair: tuple[int, int] | None) -> int | None:
    return None if pair is None else pair[1]


def _activity_name(statement: Statement) -> str | None:
    activity = statement.activity
    if activity is None:
        return None
    names = activity.get("definition", {}).get("name")
    return label(names, _last_segment(activity["id"]))


BUILTINS: dict[str, Callable[[Statement], Any]] = {
    "score.correct": lambda s: _first(score_counts(s)),
    "score.total": lambda s: _second(score_counts(s)),
    "progress.completed": lambda s: _first(progress_counts(s)),
    "progress.total": lambda s: _second(progress_counts(s)),
    "duration.seconds": duration_seconds,
    "verb.display": lambda s: label(s.verb.get("display"), _last_segment(s.verb["id"])),
    "activity.name": _activity_name,
}
