"""HTTP ingest under hostile input and concurrent clients: every event gets an outcome of its
own, nothing answers 5xx, and the event store's invariants hold afterwards."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.http.support import Api, event
from tests.support import at_once, store_violations

STATUSES = {"recorded", "duplicate", "conflict", "rejected"}


def post(client: httpx.Client, body: Any) -> httpx.Response:
    """``body`` written by the standard library, which writes what orjson refuses to."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/v1/events", content=content, headers={"content-type": "application/json"})


def nested(depth: int, container: str = "object") -> Any:
    value: Any = {} if container == "object" else []
    for _ in range(depth - 1):
        value = {"n": value} if container == "object" else [value]
    return value


def assert_invariants(api: Api) -> None:
    database = api.container.settings.require_database_url()
    assert store_violations(database, api.container.application) == []


def test_a_batch_with_an_extreme_date_records_the_rest_and_nothing_twice(
    api: Api, tenant: str
) -> None:
    client = api.as_("service", "agent", tenant)
    assert post(client, event("a-0", "a", tenant)).status_code == 201  # a is now cached
    bad = {**event("b-1", "b", tenant), "timestamp": "0001-01-01T00:00:00Z"}
    response = post(client, {"events": [event("a-1", "a", tenant), bad]})
    assert response.status_code == 200, response.text
    outcomes = response.json()["outcomes"]
    assert [o["status"] for o in outcomes] == ["recorded", "rejected"]
    assert outcomes[1]["event_id"] == "b-1"
    assert [e["loc"] for e in outcomes[1]["errors"]] == ["timestamp"]
    assert post(client, event("a-2", "a", tenant)).status_code == 201
    assert post(client, event("a-1", "a", tenant)).status_code == 200
    changed = event("a-1", "a", tenant, data={"total_questions": 10, "correct_answers": 1})
    assert post(client, changed).status_code == 409
    events = api.as_("admin", "root", tenant).get("/v1/students/a/events").json()
    assert sorted(e["event_id"] for e in events["events"]) == ["a-0", "a-1", "a-2"]
    assert_invariants(api)


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"metadata": nested(300)}, "metadata"),
        ({"metadata": {"a": nested(260, "array")}}, "metadata"),
        ({"metadata": nested(17)}, "metadata"),
        ({"timestamp": "0001-01-01T00:00:00+01:00"}, "timestamp"),
        ({"timestamp": "9999-12-31T23:59:59-01:00"}, "timestamp"),
        ({"timestamp": "1969-12-31T23:59:59Z"}, "timestamp"),
        ({"data": {"total_questions": 10**40, "correct_answers": 1}}, "data.total_questions"),
        ({"data": {"total_questions": 10, "correct_answers": 1e308}}, "data.correct_answers"),
        ({"student_id": nested(200)}, "student_id"),
        ({"event_id": "\u00e9\u0301\u200b"}, "event_id"),
        ({"topic": "x" * 129}, "topic"),
    ],
)
def test_hostile_events_are_rejected_with_a_reason(
    api: Api, tenant: str, patch: dict[str, Any], field: str
) -> None:
    client = api.as_("service", "agent", tenant)
    hostile = {**event("h-1", "h", tenant), **patch}
    single = post(client, hostile)
    assert single.status_code == 422, single.text
    assert field in [e["loc"] for e in single.json()["errors"]]
    batch = post(client, {"events": [hostile, event("ok-1", "h", tenant)]})
    assert batch.status_code == 200, batch.text
    assert [o["status"] for o in batch.json()["outcomes"]] == ["rejected", "recorded"]


def test_concurrent_clients_on_shared_students_commit_in_version_order(
    api: Api, tenant: str
) -> None:
    clients, batches, size, students = 3, 40, 20, 5
    answers: list[str] = []

    def client(number: int) -> None:
        http = api.as_("service", f"agent-{number}", tenant)
        for batch in range(batches):
            events = [
                event(f"c{number}-{batch}-{i}", f"s{i % students}", tenant) for i in range(size)
            ]
            response = post(http, {"events": events})
            assert response.status_code == 200, response.text
            answers.extend(o["status"] for o in response.json()["outcomes"])

    at_once(clients, client)
    assert answers == ["recorded"] * clients * batches * size
    assert_invariants(api)


# --- fuzz: every field of the contract given hostile values -----------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["", "\u0000", "\ufeff", "\U0001f600" * 40, "0" * 5000, "a\nb"])
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
DEPTHS = st.sampled_from([2, 16, 17, 100, 254, 255, 256, 300, 400]) | st.integers(1, 400)
DEEP = st.builds(nested, DEPTHS, st.sampled_from(["object", "array"]))
TIMESTAMPS = st.sampled_from(
    [
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00Z",
        "1970-01-01T00:00:00Z",
        "1969-12-31T23:59:59.999999Z",
        "2026-02-30T00:00:00Z",
        "2026-01-14T10:30:00",
        "2026-01-14T25:30:00Z",
        "2026-01-14T10:30:00+24:00",
        "2026-01-14T10:30:00.1234567891Z",
    ]
) | st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
).map(lambda moment: moment.isoformat())
FIELDS = [
    "event_id",
    "event_type",
    "timestamp",
    "tenant_id",
    "student_id",
    "class_id",
    "component",
    "topic",
    "data",
    "metadata",
]


@st.composite
def hostile_event(draw: st.DrawFn, tenant: str) -> Any:
    body: dict[str, Any] = event(draw(st.text(min_size=1, max_size=3)), "fz", tenant)
    body["event_id"] = "fz-" + body["event_id"].encode().hex()
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=3, unique=True)):
        body[name] = draw(JSON | DEEP | (TIMESTAMPS if name == "timestamp" else JSON))
    for name in draw(st.lists(st.sampled_from(["total_questions", "correct_answers", "x"]))):
        body["data"] = {**(body["data"] if isinstance(body["data"], dict) else {})}
        body["data"][name] = draw(JSON | DEEP)
    if draw(st.booleans()):
        return draw(JSON | DEEP)  # not an event object at all
    return body


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_fuzzed_batches_never_answer_5xx_and_every_rejection_has_a_reason(
    api: Api, tenant: str, data: st.DataObject
) -> None:
    client = api.as_("service", "fuzzer", tenant)
    events = data.draw(st.lists(hostile_event(tenant), min_size=1, max_size=6))
    response = post(client, {"events": events})
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        return
    outcomes = response.json()["outcomes"]
    assert len(outcomes) == len(events)
    for outcome in outcomes:
        assert outcome["status"] in STATUSES
        if outcome["status"] in ("rejected", "conflict"):
            assert outcome["errors"], outcome


def test_fuzzed_events_left_the_store_consistent(api: Api) -> None:
    """Runs after the fuzz test in this module: whatever it recorded, the store is intact."""
    assert_invariants(api)
