"""The pure parts of xAPI ingest: statement checks and their reasons, identity, the readings of
a result, the mapping file, and the streamed JSON array of an LRS export."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from infrastructure.ingest.contract import InvalidEvent
from infrastructure.ingest.json_array import array_elements, starts_with_array
from infrastructure.ingest.service import IgnoredInput, RefusedInput
from infrastructure.xapi.identity import class_of, student_of, topic_of
from infrastructure.xapi.mapping_file import MappingFileError, load_mapping
from infrastructure.xapi.statement import Statement, parse_statement
from infrastructure.xapi.translate import Translator
from tests.xapi_statements import statement

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def errors_of(obj: Any) -> list[tuple[str, str]]:
    with pytest.raises(InvalidEvent) as raised:
        parse_statement(obj)
    return [(e.loc, e.msg) for e in raised.value.errors]


def test_each_invalid_field_is_named_with_its_reason() -> None:
    base = statement("s1", "experienced")
    assert errors_of({**base, "id": "12"})[0][0] == "id"
    assert errors_of({**base, "actor": {"name": "nobody"}})[0] == (
        "actor",
        "must have one identifier of mbox, mbox_sha1sum, openid, account (only a Group with "
        "members may have none)",
    )
    two = {"mbox": "mailto:a@example.com", "openid": "http://openid.example.com/a"}
    assert "exactly one identifier" in errors_of({**base, "actor": two})[0][1]
    assert errors_of({**base, "object": {"objectType": "Activity"}})[0][0] == "object.id"
    assert errors_of({**base, "result": {"score": {"min": 5, "max": 5}}})[0] == (
        "result.score",
        "min must be less than max",
    )
    assert errors_of({**base, "result": {"success": "yes"}})[0][0] == "result.success"
    assert errors_of({**base, "timestamp": "2026-01-01 10:00"})[0][0] == "timestamp"
    assert errors_of({**base, "version": "1.1.0"})[0][0] == "version"
    assert errors_of([base]) == [("", "a statement must be a JSON object")]


def test_an_anonymous_group_is_a_valid_actor_without_a_student() -> None:
    group = {"objectType": "Group", "member": [{"mbox": "mailto:a@example.com"}]}
    parsed = parse_statement({**statement("s1", "experienced"), "actor": group})
    assert student_of(parsed.actor) is None


def test_mbox_and_its_sha1sum_are_the_same_student() -> None:
    by_mbox = parse_statement(
        {**statement("x", "experienced"), "actor": {"mbox": "mailto:ann@example.com"}}
    )
    digest = hashlib.sha1(b"mailto:ann@example.com").hexdigest()
    by_sum = parse_statement(
        {**statement("x", "experienced"), "actor": {"mbox_sha1sum": digest.upper()}}
    )
    assert student_of(by_mbox.actor) == student_of(by_sum.actor) == f"sha1-{digest}"


def test_an_account_name_outside_the_id_alphabet_is_digested() -> None:
    parsed = parse_statement(
        {
            **statement("x", "experienced"),
            "actor": {"account": {"homePage": "http://a", "name": "ann@x y"}},
        }
    )
    student = student_of(parsed.actor)
    assert student is not None and student.startswith("account-") and len(student) == 48


@pytest.mark.parametrize(
    ("iri", "topic"),
    [
        ("http://lms.example.com/courses/python/loops", "python.loops"),
        ("http://lms.example.com/", "lms.example.com"),
        ("https://www.youtube.com/watch?v=xh4kIiH3Sm8", "watch.v-xh4kIiH3Sm8"),
        ("urn:example:activities:quiz-7", "activities.quiz-7"),
        ("http://example.com/a b/c#part", "c.part"),
    ],
)
def test_topics_are_readable_ids(iri: str, topic: str) -> None:
    assert topic_of(iri, 2, 64) == topic


def test_a_long_topic_is_cut_and_kept_distinct() -> None:
    first = topic_of("http://x.org/" + "a" * 200 + "/1", 2, 64)
    second = topic_of("http://x.org/" + "a" * 200 + "/2", 2, 64)
    assert len(first) <= 64 and first != second


def test_the_class_comes_from_the_extension_or_a_course_activity() -> None:
    with_course = parse_statement(statement("x", "experienced", course="cs-101"))
    with_extension = parse_statement(
        {**statement("x", "experienced"), "context": {"extensions": {"urn:class": "cs 202"}}}
    )
    course_type = ["http://adlnet.gov/expapi/activities/course"]
    assert class_of(with_course.context, "urn:class", course_type, ["grouping"]) == "cs-101"
    assert class_of(with_extension.context, "urn:class", course_type, ["grouping"]) == "cs-202"


@pytest.mark.parametrize(
    ("result", "data"),
    [
        (
            {"score": {"raw": 7.5, "min": 0, "max": 10}},
            {"correct_answers": 3, "total_questions": 4},
        ),
        ({"score": {"scaled": -0.5}}, {"correct_answers": 0, "total_questions": 1}),
        (
            {"score": {"raw": 15, "min": 10, "max": 20}},
            {"correct_answers": 5, "total_questions": 10},
        ),
        (
            {"score": {"scaled": 1 / 3}, "success": True},
            {"correct_answers": 1, "total_questions": 3},
        ),
        (
            {"success": True, "duration": "P1DT1H"},
            {"correct_answers": 1, "total_questions": 1, "time_spent_seconds": 90000.0},
        ),
    ],
)
def test_a_score_becomes_counts(result: dict[str, Any], data: dict[str, Any]) -> None:
    translation = Translator.from_file(None).translate(
        statement("q", "scored", result=result), "acme", NOW
    )
    assert isinstance(translation.item, dict)
    assert translation.item["data"] == data


def test_what_no_rule_maps_and_what_is_not_valid_are_outcomes_not_errors() -> None:
    translator = Translator.from_file(None)
    voided = translator.translate(
        {**statement("v", "voided"), "object": {"objectType": "StatementRef", "id": "x"}}, "a", NOW
    )
    assert isinstance(voided.item, IgnoredInput) and voided.rule == "voided"
    invalid = translator.translate({"id": 5}, "a", NOW)
    assert isinstance(invalid.item, RefusedInput) and invalid.rule is None


def test_a_json_mapping_file_is_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "quizzes.json"
    path.write_text(
        json.dumps(
            {
                "rules": [
                    {
                        "name": "quizzes",
                        "when": {"result": ["score"]},
                        "component": "quiz",
                        "data": {
                            "correct_answers": {"builtin": "score.correct"},
                            "total_questions": {"builtin": "score.total"},
                            "attempts": {
                                "path": ["result", "extensions", "urn:attempts"],
                                "default": 1,
                            },
                        },
                    }
                ]
            }
        )
    )
    translator = Translator(load_mapping(path))
    scored = translator.translate(
        statement(
            "q",
            "experienced",
            result={"score": {"raw": 2, "max": 4}, "extensions": {"urn:attempts": 3}},
        ),
        "a",
        NOW,
    )
    plain = translator.translate(statement("q", "experienced"), "a", NOW)
    assert isinstance(scored.item, dict)
    assert scored.item["data"] == {"correct_answers": 2, "total_questions": 4, "attempts": 3}
    assert isinstance(plain.item, IgnoredInput) and plain.rule == "no-rule"
    path.write_text('{"rules": [{"name": "x", "when": {"result": ["grade"]}, "ignore": "y"}]}')
    with pytest.raises(MappingFileError, match="unknown result facts grade"):
        load_mapping(path)


def test_the_default_mapping_loads() -> None:
    names = [rule.name for rule in load_mapping().rules]
    assert names[0] == "voided" and names[-1] == "activity-marker"


def test_statement_keeps_what_the_mapping_does_not_read() -> None:
    parsed = parse_statement(
        {**statement("k", "experienced"), "authority": {"mbox": "mailto:a@b.c"}}
    )
    assert isinstance(parsed, Statement)


@pytest.mark.parametrize(
    ("text", "elements"),
    [
        (b"[]", []),
        (
            b' [ {"a": "x,]\\"}"}, [1,2] ,\n 3 ]',
            [(1, b'{"a": "x,]\\"}"}'), (1, b"[1,2] "), (2, b"3 ")],
        ),
        (b"[1] junk", [(1, b"1"), (1, b"junk")]),
        (b'[{"a":1}, {"b":', [(1, b'{"a":1}'), (1, b'{"b":')]),
    ],
)
def test_an_array_file_is_streamed_element_by_element(text: bytes, elements: list[Any]) -> None:
    stream = io.BytesIO(text)
    assert starts_with_array(stream) and stream.tell() == 0
    assert [(e.line, e.text) for e in array_elements(stream, 1000)] == elements


def test_an_oversized_element_is_cut_and_flagged() -> None:
    [element] = list(array_elements(io.BytesIO(b'["' + b"x" * 100 + b'"]'), 10))
    assert element.oversized and len(element.text) == 10
