"""``POST /v1/events`` outcomes name what they answer: a duplicate carries a store position a
read can wait for, and every outcome the ``event_id`` its input had, rejected ones included."""

from __future__ import annotations

from tests.e2e.http.support import Api, event


def test_a_duplicate_answers_a_position_a_read_can_wait_for(api: Api, tenant: str) -> None:
    service = api.as_("service", "agent", tenant)
    written = event("d1", "dupe", tenant)
    first = service.post("/v1/events", json=written).json()["position"]
    service.post("/v1/events", json=event("d2", "other", tenant))  # the head moves on

    again = service.post("/v1/events", json=written)
    batch = service.post("/v1/events", json={"events": [written]})

    assert again.status_code == 200 and again.json()["outcomes"][0]["status"] == "duplicate"
    position = again.json()["position"]
    assert position is not None and position > first
    assert position == api.container.application.head()
    assert batch.json()["position"] == position
    read = api.as_("student", "dupe", tenant).get(
        "/v1/students/dupe/mastery", params={"min_position": position, "wait_ms": 5000}
    )
    assert read.json()["stale"] is False and read.json()["event_count"] == 1


def test_every_outcome_names_the_event_id_its_input_had(api: Api, tenant: str) -> None:
    foreign = event("f1", "s1", "another-tenant")
    invalid = {**event("f2", "s1", tenant), "component": "nope"}
    unnamed = {**event("f3", "s1", tenant), "event_id": 7}
    service = api.as_("service", "agent", tenant)

    batch = service.post("/v1/events", json={"events": [foreign, invalid, unnamed]}).json()
    single = service.post("/v1/events", json=foreign)

    assert [(o["status"], o["event_id"]) for o in batch["outcomes"]] == [
        ("rejected", "f1"),
        ("rejected", "f2"),
        ("rejected", None),
    ]
    assert batch["outcomes"][0]["code"] == "forbidden_tenant"
    assert single.status_code == 422
    assert single.json()["outcome"]["event_id"] == "f1"
