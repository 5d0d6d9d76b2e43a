"""Topics over real HTTP (SPEC §4, §5): every component counts for its topic, activity markers
included, and each topic carries its event counts per component — from the live read model, a
past date's snapshot, and read models written before topics had evidence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from infrastructure.redis_views.view import RedisMasteryView
from tests.e2e.http.support import Api, event

NO_EVIDENCE = {"completion": 0, "quiz": 0, "quality": 0, "consistency": 0}


def days_ago(n: int) -> datetime:
    return datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=n)


def counts(**given: int) -> dict[str, int]:
    return {**NO_EVIDENCE, **given}


@pytest.fixture
def learner(api: Api, tenant: str) -> str:
    """A student with exercises and a quiz on python.loops, and only activity markers on git
    (one two days ago, one yesterday)."""
    student = "learner"
    events = [
        event("c", student, tenant, component="completion", day=days_ago(2)),
        event("q", student, tenant, day=days_ago(2)),
        event("m1", student, tenant, component="consistency", day=days_ago(2), topic="git"),
        event("m2", student, tenant, component="consistency", day=days_ago(1), topic="git"),
    ]
    response = api.as_("service", "agent", tenant).post("/v1/events", json={"events": events})
    assert response.status_code == 200, response.text
    api.container.view.wait("mastery", response.json()["position"], timeout=10)
    return student


def test_a_topic_with_only_activity_markers_is_served_with_zeros_and_its_evidence(
    api: Api, tenant: str, learner: str
) -> None:
    admin = api.as_("admin", "root", tenant)

    topics = admin.get(f"/v1/students/{learner}/topics").json()["topics"]
    mastery = admin.get(f"/v1/students/{learner}/mastery").json()
    recommendations = admin.get(f"/v1/students/{learner}/recommendations").json()

    git = topics["git"]
    assert git["components"]["completion"] == git["components"]["quiz"] == 0.0
    assert git["components"]["quality"] == 0.0
    assert git["components"]["consistency"] == mastery["components"]["consistency"] > 0
    assert git["level"] == "beginner"
    assert git["evidence"] == counts(consistency=2)
    assert topics["python.loops"]["evidence"] == counts(completion=1, quiz=1)
    assert mastery["source"] == "read_model"
    assert mastery["topics"] == topics
    assert mastery["evidence"]["consistency"] == 2
    weak_git = {"action": "practice", "area": "topic:git", "priority": "high", "topic": "git"}
    assert weak_git in mastery["recommendations"]
    assert weak_git in recommendations["recommendations"]


def test_a_past_date_served_from_its_snapshot_has_that_dates_topic_evidence(
    api: Api, tenant: str, learner: str
) -> None:
    admin = api.as_("admin", "root", tenant)

    past = admin.get(
        f"/v1/students/{learner}/mastery", params={"as_of": days_ago(2).date().isoformat()}
    ).json()

    assert past["source"] == "read_model"
    assert past["topics"]["git"]["evidence"] == counts(consistency=1)
    assert past["topics"]["python.loops"]["evidence"] == counts(completion=1, quiz=1)


def test_read_models_written_before_topic_evidence_are_replayed_until_rebuilt(
    api: Api, tenant: str, learner: str
) -> None:
    """An upgrade leaves documents without topic evidence and without marker-only topics in
    Redis: the API answers from the event store instead of serving them, until
    ``mastery projections rebuild`` rewrites them."""
    view = api.container.view
    assert isinstance(view, RedisMasteryView)
    client, keys = view.client, view.keys
    names = [keys.current(tenant, learner)] + [
        keys.snapshot(tenant, learner, d.date()) for d in (days_ago(2), days_ago(1))
    ]
    for name in names:
        written = orjson.loads(client.get(name))  # type: ignore[arg-type]
        client.set(name, orjson.dumps(as_written_before_topic_evidence(written)))
    admin = api.as_("admin", "root", tenant)

    def read(**params: str) -> dict[str, Any]:
        response = admin.get(f"/v1/students/{learner}/mastery", params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    for before in (read(), read(as_of=days_ago(2).date().isoformat())):
        assert before["source"] == "replay"
        assert "git" in before["topics"]
    topics = admin.get(f"/v1/students/{learner}/topics").json()["topics"]
    assert topics["git"]["evidence"] == counts(consistency=2)

    api.container.projector.rebuild(tenant_id=tenant, student_id=learner)

    after = read()
    assert after["source"] == "read_model"
    assert after["topics"]["git"]["evidence"] == counts(consistency=2)


def as_written_before_topic_evidence(document: dict[str, Any]) -> dict[str, Any]:
    """A document as the previous version wrote it: no marker-only topic, no topic evidence."""
    exact = document["exact"]
    consistency = exact["components"]["consistency"]
    old_exact = {
        "components": exact["components"],
        "topics": {
            name: {**without_evidence(topic), "consistency": consistency}
            for name, topic in exact["topics"].items()
            if name != "git"
        },
    }
    old = {**document, "exact": old_exact}
    if "topics" in document:
        old["topics"] = {
            name: without_evidence(topic)
            for name, topic in document["topics"].items()
            if name != "git"
        }
    return old


def without_evidence(topic: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in topic.items() if k != "evidence"}
