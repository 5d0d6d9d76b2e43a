"""``/xapi`` over real HTTP: the version header, auth, what an LRS client sees (ids, 204, 400,
409), the outcome document, each verb of the default mapping, statements from the xAPI
specification, and malformed input — every statement its own outcome, never a 5xx."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.http.xapi_models import OUTCOMES_MEDIA_TYPE
from infrastructure.ingest.backfill import backfill_file
from infrastructure.xapi.translate import Translator, stored_times
from tests.e2e.http.support import Api
from tests.xapi_statements import (
    HEADERS_1,
    HEADERS_2,
    PROGRESS,
    fixture,
    fixture_names,
    statement,
)

OUTCOMES = {"Accept": OUTCOMES_MEDIA_TYPE}
VERSION = "x-experience-api-version"


def service(api: Api, tenant: str, version: dict[str, str] = HEADERS_1) -> httpx.Client:
    client = api.as_("service", "lms", tenant)
    client.headers.update(version)
    return client


def outcomes(client: httpx.Client, body: Any) -> list[dict[str, Any]]:
    response = client.post("/xapi/statements", json=body, headers=OUTCOMES)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == OUTCOMES_MEDIA_TYPE
    found: list[dict[str, Any]] = response.json()["outcomes"]
    return found


def events_of(api: Api, tenant: str, student: str) -> list[dict[str, Any]]:
    admin = api.as_("admin", "root", tenant)
    response = admin.get(f"/v1/students/{student}/events")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["events"]
    return found


def test_about_names_the_versions_without_a_token(api: Api) -> None:
    response = api.client.get("/xapi/about")
    assert response.status_code == 200
    assert response.json()["version"] == ["1.0.3", "2.0.0"]
    assert response.headers[VERSION] == "2.0.0"


@pytest.mark.parametrize(
    ("header", "status", "answered"),
    [
        (None, 400, "2.0.0"),
        ("0.95", 400, "2.0.0"),
        ("1.1.0", 400, "2.0.0"),
        ("3.0.0", 400, "2.0.0"),
        ("1.0", 200, "1.0.3"),
        ("1.0.0", 200, "1.0.3"),
        ("1.0.3", 200, "1.0.3"),
        ("2.0", 200, "2.0.0"),
        ("2.0.0", 200, "2.0.0"),
    ],
)
def test_the_version_header_is_required_and_answered(
    api: Api, tenant: str, header: str | None, status: int, answered: str
) -> None:
    client = api.as_("service", "lms", tenant)
    headers = {} if header is None else {"X-Experience-API-Version": header}
    response = client.post("/xapi/statements", json=statement("s1", "experienced"), headers=headers)
    assert response.status_code == status, response.text
    assert response.headers[VERSION] == answered
    if status == 400:
        assert "version" in response.json()["detail"].lower()


def test_only_a_service_token_may_send_statements(api: Api, tenant: str) -> None:
    body = statement("s1", "experienced")
    anonymous = api.client.post("/xapi/statements", json=body, headers=HEADERS_1)
    student = api.as_("student", "s1", tenant).post(
        "/xapi/statements", json=body, headers=HEADERS_1
    )
    put = api.as_("teacher", "t1", tenant).put(
        "/xapi/statements", params={"statementId": body["id"]}, json=body, headers=HEADERS_1
    )
    assert anonymous.status_code == 401 and anonymous.headers[VERSION] == "2.0.0"
    assert student.status_code == 403
    assert put.status_code == 403
    assert events_of_or_none(api, tenant, "s1") is None


def events_of_or_none(api: Api, tenant: str, student: str) -> list[dict[str, Any]] | None:
    admin = api.as_("admin", "root", tenant)
    response = admin.get(f"/v1/students/{student}/events")
    return None if response.status_code == 404 else response.json()["events"]


def test_an_lrs_client_gets_ids_for_a_post_and_204_for_a_put(api: Api, tenant: str) -> None:
    client = service(api, tenant)
    first = statement("s1", "experienced")
    unnamed = statement("s1", "launched")
    del unnamed["id"]
    put_id = str(uuid.uuid4())
    posted = client.post("/xapi/statements", json=first)
    batch = client.post("/xapi/statements", json=[unnamed])
    put = client.put(
        "/xapi/statements",
        params={"statementId": put_id},
        json=statement("s1", "initialized") | {"id": put_id},
    )
    put_without_id = statement("s1", "terminated")
    del put_without_id["id"]
    other_id = str(uuid.uuid4())
    put_sets_id = client.put(
        "/xapi/statements", params={"statementId": other_id}, json=put_without_id
    )

    assert posted.status_code == 200 and posted.json() == [first["id"]]
    assert posted.headers["x-mastery-outcomes"] == "recorded=1"
    assert batch.status_code == 200
    assigned = batch.json()[0]
    assert uuid.UUID(assigned)
    assert put.status_code == 204 and put.content == b""
    assert put_sets_id.status_code == 204
    recorded = {e["event_id"] for e in events_of(api, tenant, "s1")}
    assert recorded == {first["id"], assigned, put_id, other_id}


def test_repeated_statement_ids_are_duplicates_or_conflicts(api: Api, tenant: str) -> None:
    client = service(api, tenant)
    sent = statement("s2", "answered", activity_type="question", result={"success": True})
    changed = {**sent, "result": {"success": False}}
    restored = {**sent, "stored": "2026-01-01T00:00:00Z", "version": "1.0.0"}

    assert client.post("/xapi/statements", json=sent).status_code == 200
    again = client.post("/xapi/statements", json=sent)
    put_again = client.put("/xapi/statements", params={"statementId": sent["id"]}, json=sent)
    conflict = client.post("/xapi/statements", json=changed)
    put_conflict = client.put("/xapi/statements", params={"statementId": sent["id"]}, json=changed)
    # fields the mapping does not read make no difference: the same learning event
    same_event = client.post("/xapi/statements", json=restored)

    assert again.status_code == 200 and again.headers["x-mastery-outcomes"] == "duplicate=1"
    assert put_again.status_code == 204
    assert conflict.status_code == 409
    assert conflict.json()["outcome"]["status"] == "conflict"
    assert put_conflict.status_code == 409 and put_conflict.headers[VERSION] == "1.0.3"
    assert same_event.headers["x-mastery-outcomes"] == "duplicate=1"
    assert len(events_of(api, tenant, "s2")) == 1


def test_a_put_whose_statement_names_another_id_is_refused(api: Api, tenant: str) -> None:
    client = service(api, tenant)
    body = statement("s3", "experienced")
    wrong = client.put("/xapi/statements", params={"statementId": str(uuid.uuid4())}, json=body)
    missing = client.put("/xapi/statements", json=body)
    malformed = client.put("/xapi/statements", params={"statementId": "nope"}, json=body)
    array = client.put("/xapi/statements", params={"statementId": body["id"]}, json=[body])
    assert [r.status_code for r in (wrong, missing, malformed, array)] == [400, 400, 400, 400]
    assert events_of_or_none(api, tenant, "s3") is None


def test_a_batch_gives_each_statement_its_own_outcome(api: Api, tenant: str) -> None:
    client = service(api, tenant)
    good = statement("s4", "experienced")
    bad = statement("s4", "answered", result={"score": {"scaled": 1.5}})
    voided = fixture("adl/voided-statementref.json")
    batch = [good, bad, voided, "not a statement"]

    plain = client.post("/xapi/statements", json=batch)
    detailed = outcomes(client, batch)

    assert plain.status_code == 200
    assert plain.json() == [good["id"], bad["id"], plain.json()[2], None]
    assert plain.headers["x-mastery-outcomes"] == "ignored=1, recorded=1, rejected=2"
    statuses = [(o["status"], o["rule"]) for o in detailed]
    assert statuses == [
        ("duplicate", "activity-marker"),
        ("rejected", None),
        ("ignored", "voided"),
        ("rejected", None),
    ]
    assert detailed[1]["errors"][0]["loc"] == "result.score.scaled"
    assert detailed[2]["errors"][0]["msg"].startswith("voiding is not supported")
    single_bad = client.post("/xapi/statements", json=bad)
    assert single_bad.status_code == 400
    assert single_bad.json()["errors"][0]["loc"] == "result.score.scaled"


def _when(days: int) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(days=days, hours=1)


DEFAULT_MAPPING_CASES: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = [
    (
        "quiz-on-assessment",
        {
            "verb": "answered",
            "activity_type": "question",
            "result": {"score": {"raw": 7, "min": 0, "max": 10}},
        },
        "quiz",
        {"correct_answers": 7, "total_questions": 10, "attempts": 1},
    ),
    (
        "quiz-on-assessment",
        {
            "verb": "https://w3id.org/xapi/acrossx/verbs/evaluated",
            "activity_type": "cmi.interaction",
            "result": {"success": False, "response": "b"},
        },
        "quiz",
        {"correct_answers": 0, "total_questions": 1, "attempts": 1},
    ),
    (
        "quiz-by-verb",
        {"verb": "scored", "result": {"score": {"scaled": 0.95}, "duration": "PT1M30S"}},
        "quiz",
        {"correct_answers": 19, "total_questions": 20, "attempts": 1, "time_spent_seconds": 90.0},
    ),
    (
        "quiz-by-verb",
        {"verb": "passed", "result": {"success": True}},
        "quiz",
        {"correct_answers": 1, "total_questions": 1, "attempts": 1},
    ),
    (
        "quiz-by-verb",
        {"verb": "failed", "result": {"score": {"scaled": 0.25}}},
        "quiz",
        {"correct_answers": 1, "total_questions": 4, "attempts": 1},
    ),
    (
        "quiz-by-verb",
        {"verb": "attempted", "result": {"score": {"raw": 3, "max": 4}}},
        "quiz",
        {"correct_answers": 3, "total_questions": 4, "attempts": 1},
    ),
    (
        "quiz-by-verb",
        {"verb": "mastered", "result": {"success": True}},
        "quiz",
        {"correct_answers": 1, "total_questions": 1, "attempts": 1},
    ),
    (
        "completion-progress",
        {"verb": "progressed", "result": {"extensions": {PROGRESS: 40}}},
        "completion",
        {"completed_exercises": 40, "total_exercises": 100, "difficulty": "intermediate"},
    ),
    (
        "completion-progress",
        {"verb": "completed", "result": {"completion": True}},
        "completion",
        {"completed_exercises": 1, "total_exercises": 1, "difficulty": "intermediate"},
    ),
    ("activity-marker", {"verb": "completed"}, "consistency", {"activity": "completed"}),
    ("activity-marker", {"verb": "experienced"}, "consistency", {"activity": "experienced"}),
    ("activity-marker", {"verb": "attempted"}, "consistency", {"activity": "attempted"}),
    ("activity-marker", {"verb": "launched"}, "consistency", {"activity": "launched"}),
    ("activity-marker", {"verb": "initialized"}, "consistency", {"activity": "initialized"}),
    ("activity-marker", {"verb": "terminated"}, "consistency", {"activity": "terminated"}),
    ("activity-marker", {"verb": "answered"}, "consistency", {"activity": "answered"}),
    (
        "activity-marker",
        {"verb": "passed", "activity_type": "course"},
        "consistency",
        {"activity": "passed"},
    ),
]


@pytest.mark.parametrize(("rule", "shape", "component", "data"), DEFAULT_MAPPING_CASES)
def test_each_verb_of_the_default_mapping(
    api: Api, tenant: str, rule: str, shape: dict[str, Any], component: str, data: dict[str, Any]
) -> None:
    sent = statement("learner-1", course="cs101", when=_when(1), **shape)
    found = outcomes(service(api, tenant, HEADERS_2), sent)
    assert (found[0]["status"], found[0]["rule"]) == ("recorded", rule), found
    [event] = events_of(api, tenant, "learner-1")
    assert event["event_id"] == sent["id"]
    assert event["component"] == component
    assert event["data"] == data
    assert event["topic"] == "python.loops"
    assert event["class_id"] == "cs101"
    assert event["timestamp"] == sent["timestamp"].replace("+00:00", "Z")
    assert event["metadata"]["rule"] == rule


@pytest.mark.parametrize("name", fixture_names("adl") + fixture_names("openedx-shaped"))
def test_statements_as_platforms_write_them(api: Api, tenant: str, name: str) -> None:
    sent = fixture(name)
    for headers in (HEADERS_1, HEADERS_2):
        [found] = outcomes(service(api, tenant, headers), sent)
        assert found["status"] in ("recorded", "duplicate", "ignored"), found
        if found["status"] == "ignored":
            assert found["rule"] in ("voided", "not-an-activity")
        if "id" in sent:
            assert found["statement_id"] == sent["id"]


def _deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"k": value}
    return value


NASTY: list[Any] = [
    None,
    7,
    [],
    {},
    {"actor": "x", "verb": [], "object": 1.5, "result": "y", "context": False, "timestamp": {}},
    {"actor": {"mbox": "mailto:a@b.c", "account": {"homePage": "http://x", "name": "n"}}},
    {**statement("n1", "experienced"), "id": "not-a-uuid"},
    {**statement("n1", "experienced"), "timestamp": "2026-01-01T10:00:00"},
    {**statement("n1", "experienced"), "timestamp": "99999-01-01T10:00:00Z"},
    {**statement("n1", "experienced"), "timestamp": "1960-01-01T10:00:00Z"},
    {**statement("n1", "experienced"), "version": "0.95"},
    {**statement("n1", "experienced"), "unknown": 1},
    {**statement("n1", "experienced"), "result": {"score": {"raw": 11, "max": 10}}},
    {**statement("n1", "experienced"), "result": {"duration": "one hour"}},
    {**statement("n1", "experienced"), "context": {"registration": "nope"}},
    {**statement("n1", "experienced"), "verb": {"id": "not an iri"}},
    {**statement("n1", "experienced"), "context": {"extensions": {"deep": _deep(200)}}},
    {
        **statement("n1", "experienced"),
        "actor": {"account": {"homePage": "http://x", "name": "a" * 500}},
    },
    {**statement("n1", "scored"), "result": {"score": {"raw": 10**30, "max": 10**31}}},
]


def test_malformed_statements_are_rejected_one_by_one_with_reasons(api: Api, tenant: str) -> None:
    client = service(api, tenant)
    good = statement("n2", "experienced")
    found = outcomes(client, [*NASTY, good])
    assert len(found) == len(NASTY) + 1
    assert found[-1]["status"] == "recorded"
    for sent, outcome in zip(NASTY, found, strict=False):
        assert outcome["status"] in ("rejected", "recorded"), (sent, outcome)
        if outcome["status"] == "rejected":
            assert outcome["errors"] and all(e["msg"] for e in outcome["errors"]), outcome
    assert [o["status"] for o in found[:16]] == ["rejected"] * 16


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"\xff\xfe not utf-8", 400),
        (b"[" * 5000 + b"]" * 5000, 400),
        (b'{"a": NaN}', 400),
        (b'"just a string"', 400),
        (b"[" + b",".join([b"{}"] * 1001) + b"]", 413),
        (b" " * (1024 * 1024 + 1), 413),
    ],
)
def test_bodies_that_are_not_statements_are_4xx(
    api: Api, tenant: str, body: bytes, status: int
) -> None:
    client = service(api, tenant)
    response = client.post(
        "/xapi/statements", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert response.headers[VERSION] == "1.0.3"


def test_the_read_models_equal_those_of_the_same_facts_as_learning_events(api: Api) -> None:
    xapi_tenant, events_tenant = f"x-{uuid.uuid4().hex[:8]}", f"e-{uuid.uuid4().hex[:8]}"
    sent = [
        statement(
            "s9",
            "answered",
            activity_type="question",
            result={"score": {"raw": 8, "max": 10}},
            when=_when(3),
            course="c1",
        ),
        statement(
            "s9", "progressed", result={"extensions": {PROGRESS: 60}}, when=_when(2), course="c1"
        ),
        statement("s9", "experienced", when=_when(1), course="c1"),
    ]
    found = outcomes(service(api, xapi_tenant), sent)
    assert [o["status"] for o in found] == ["recorded"] * 3
    learning_events = [
        {**event, "tenant_id": events_tenant, "metadata": None}
        for event in events_of(api, xapi_tenant, "s9")
    ]
    for event in learning_events:
        del event["version"]
    posted = api.as_("service", "agent", events_tenant).post(
        "/v1/events", json={"events": learning_events}
    )
    assert posted.status_code == 200 and posted.json()["counts"] == {"recorded": 3}
    api.container.view.wait("mastery", posted.json()["position"], timeout=10)

    def documents(tenant: str) -> dict[str, Any]:
        admin = api.as_("admin", "root", tenant)
        return {
            "mastery": admin.get("/v1/students/s9/mastery").json(),
            "topics": admin.get("/v1/students/s9/topics").json(),
            "history": admin.get("/v1/students/s9/mastery/history").json(),
            "class": admin.get("/v1/classes/c1/mastery").json(),
        }

    assert _without_tenant(documents(xapi_tenant)) == _without_tenant(documents(events_tenant))


def _without_tenant(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_tenant(v) for k, v in value.items() if k not in ("tenant_id", "position")
        }
    if isinstance(value, list):
        return [_without_tenant(v) for v in value]
    return value


def test_a_2_0_statement_with_its_new_properties(api: Api, tenant: str) -> None:
    sent = statement(
        "v2", "answered", activity_type="question", result={"success": True}, version="2.0.0"
    )
    sent["context"] = {
        "contextAgents": [
            {
                "objectType": "contextAgent",
                "agent": {"objectType": "Agent", "mbox": "mailto:tutor@example.com"},
                "relevantTypes": ["https://example.com/types/tutor"],
            }
        ]
    }
    [found] = outcomes(service(api, tenant, HEADERS_2), sent)
    assert (found["status"], found["rule"]) == ("recorded", "quiz-on-assessment")


def test_the_same_statement_via_http_and_backfill_is_one_event(
    api: Api, tenant: str, tmp_path: Path
) -> None:
    posted = statement("b1", "experienced")
    changed = {**posted, "verb": {"id": "http://adlnet.gov/expapi/verbs/launched"}}
    assert service(api, tenant).post("/xapi/statements", json=posted).status_code == 200
    export = tmp_path / "export.json"
    export.write_text(json.dumps([posted, changed]), encoding="utf-8")
    built = api.container
    translate = Translator.from_settings(built.settings).items_of(
        tenant, datetime.now(UTC), stored_times(built.application)
    )
    summary = backfill_file(built.ingest, export, translate=translate)
    assert dict(summary.counts) == {"duplicate": 1, "conflict": 1}
    assert len(events_of(api, tenant, "b1")) == 1
