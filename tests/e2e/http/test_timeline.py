"""``/timeline`` and ``/events`` over real HTTP: both in learning-time order (time, then event
id), paged by a cursor that stays put when a late event arrives; each timeline step says what
its event changed, the whole mastery only when asked for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.e2e.http.support import Api, event


def at(day: int, hour: int = 9) -> datetime:
    """``day`` days ago at ``hour`` UTC."""
    today = datetime.now(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    return today - timedelta(days=day)


def history(tenant: str, student: str = "s1") -> list[dict[str, Any]]:
    """Eleven events of one student over five days and three topics, sent out of order."""
    events = [
        event(
            f"e{n:02d}" if student == "s1" else f"{student}-e{n:02d}",
            student,
            tenant,
            component="completion" if n % 3 == 0 else "quiz",
            day=at(5 - n // 3, hour=8 + n % 3),
            topic=("sql", "git", "loops")[n % 3],
            data=(
                {"total_exercises": 10, "completed_exercises": min(10, n)}
                if n % 3 == 0
                else {"total_questions": 10, "correct_answers": min(10, 2 + n)}
            ),
        )
        for n in range(11)
    ]
    return events[::-1]


def ingest(api: Api, tenant: str, events: list[dict[str, Any]]) -> None:
    response = api.as_("service", "agent", tenant).post("/v1/events", json={"events": events})
    assert response.status_code == 200, response.text
    assert response.json()["counts"] == {"recorded": len(events)}


def pages(client: httpx.Client, path: str, field: str, limit: int) -> list[dict[str, Any]]:
    """Every page of ``path``, following ``next``."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        response = client.get(path, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body[field]) <= limit
        items.extend(body[field])
        if body["next"] is None:
            return items
        params["after"] = body["next"]


def test_timeline_pages_steps_in_learning_time_order(api: Api, tenant: str) -> None:
    ingest(api, tenant, history(tenant))
    admin = api.as_("admin", "root", tenant)

    whole = admin.get("/v1/students/s1/timeline").json()
    paged = pages(admin, "/v1/students/s1/timeline", "steps", limit=4)

    assert whole["step_count"] == 11 and whole["next"] is None
    assert paged == whole["steps"]
    assert [s["event_id"] for s in paged] == [f"e{n:02d}" for n in range(11)]
    assert [s["step"] for s in paged] == list(range(1, 12))
    assert all(s["mastery"] is None for s in paged)
    changes = [s for s in paged if s["level_change"] is not None]
    assert changes, "the history climbs at least one level"
    for step in changes:
        before = paged[step["step"] - 2]
        assert step["level_change"] == {"from": before["level"], "to": step["level"]}


def test_the_last_step_and_a_full_step_agree_with_the_mastery_read(api: Api, tenant: str) -> None:
    ingest(api, tenant, history(tenant))
    admin = api.as_("admin", "root", tenant)
    steps = admin.get("/v1/students/s1/timeline").json()["steps"]

    full = admin.get("/v1/students/s1/timeline", params={"full": "true", "limit": 11}).json()

    last = full["steps"][-1]
    read = admin.get("/v1/students/s1/mastery", params={"as_of": last["timestamp"][:10]}).json()
    assert last["mastery"]["mastery_score"] == last["mastery_score"] == read["mastery_score"]
    assert last["mastery"]["level"] == last["level"] == read["level"]
    assert last["topic_score"] == read["topics"][last["topic"]]["mastery_score"]
    assert [{**s, "mastery": None} for s in full["steps"]] == steps


def test_events_are_in_learning_time_order_with_their_version(api: Api, tenant: str) -> None:
    events = history(tenant)
    ingest(api, tenant, events)
    admin = api.as_("admin", "root", tenant)

    listed = pages(admin, "/v1/students/s1/events", "events", limit=3)

    assert [e["event_id"] for e in listed] == [f"e{n:02d}" for n in range(11)]
    # Recorded newest first, so the store's versions run against learning time.
    versions = {e["event_id"]: e["version"] for e in listed}
    assert versions["e00"] > versions["e10"]
    assert sorted(versions.values()) == list(range(2, 13))


def test_a_late_event_does_not_shift_the_next_page(api: Api, tenant: str) -> None:
    for path, field in (("events", "events"), ("timeline", "steps")):
        ingest(api, tenant, history(tenant, path))
        admin = api.as_("admin", "root", tenant)
        first = admin.get(f"/v1/students/{path}/{path}", params={"limit": 5}).json()
        late = f"late-{path}"
        ingest(api, tenant, [event(late, path, tenant, day=at(9))])  # before every page

        second = admin.get(
            f"/v1/students/{path}/{path}", params={"limit": 5, "after": first["next"]}
        ).json()

        expected = [f"{path}-e{n:02d}" for n in range(5, 10)]
        assert [e["event_id"] for e in second[field]] == expected
        again = admin.get(f"/v1/students/{path}/{path}", params={"limit": 1}).json()
        assert again[field][0]["event_id"] == late


def test_bad_cursors_and_limits_are_field_errors(api: Api, tenant: str) -> None:
    ingest(api, tenant, history(tenant))
    admin = api.as_("admin", "root", tenant)
    for path in ("events", "timeline"):
        for params in (
            {"after": "7"},
            {"after": ""},
            {"after": "2026-01-01T00:00:00~a b"},
            {"after": "2026-01-01T00:00:00~e1"},  # no UTC offset
            {"after": "x" * 300},
            {"limit": "0"},
            {"limit": "1001"},
        ):
            response = admin.get(f"/v1/students/s1/{path}", params=params)
            assert response.status_code == 422, (path, params, response.text)
            loc = response.json()["errors"][0]["loc"]
            assert loc == f"query.{next(iter(params))}", (path, params, loc)
    past_the_end = {"after": "2999-01-01T00:00:00Z~z"}
    assert admin.get("/v1/students/s1/timeline", params=past_the_end).json()["steps"] == []
    assert admin.get("/v1/students/s1/events", params=past_the_end).json()["events"] == []
    assert admin.get("/v1/students/nobody/timeline").status_code == 404


def test_a_kept_timeline_takes_new_events_as_a_fresh_replay_would(api: Api, tenant: str) -> None:
    ingest(api, tenant, history(tenant))
    admin = api.as_("admin", "root", tenant)
    before = admin.get("/v1/students/s1/timeline").json()["steps"]  # kept by the server now

    ingest(api, tenant, [event("n1", "s1", tenant, day=at(0, hour=0), topic="sql")])
    after = admin.get("/v1/students/s1/timeline").json()
    recomputed = admin.get("/v1/students/s1/timeline", params={"full": "true"}).json()

    assert after["step_count"] == 12 and after["steps"][:11] == before
    assert after["steps"][-1]["event_id"] == "n1"
    assert [{**s, "mastery": None} for s in recomputed["steps"]] == after["steps"]
