"""The read API a dashboard needs, over real HTTP (SPEC §7, issue 13): the caller's classes,
a student search, a day-by-day history, topic recommendations with their topic, an answer
before the first event that says there is no data, and cross-origin access when configured.
Each route keeps within what the token may read, and never leaves its tenant."""

from __future__ import annotations

import asyncio
import dataclasses
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from api.http.app import create_app
from infrastructure.settings import Settings
from tests.e2e.http.support import SECRET, Api, event

ORIGIN = "https://dashboard.example"


@pytest.fixture(scope="module")
def api_settings(api_settings: Settings) -> Settings:
    """This module's server allows one dashboard origin."""
    return dataclasses.replace(api_settings, cors_origins=(ORIGIN,))


def days_ago(n: int) -> datetime:
    return datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=n)


def ingest(api: Api, tenant: str, events: list[dict[str, Any]]) -> None:
    response = api.as_("service", "agent", tenant).post("/v1/events", json={"events": events})
    assert response.status_code == 200, response.text
    api.container.view.wait("mastery", response.json()["position"], timeout=10)


def weak(event_id: str, student: str, tenant: str, class_id: str) -> dict[str, Any]:
    return event(
        event_id,
        student,
        tenant,
        class_id=class_id,
        data={"total_questions": 10, "correct_answers": 1},
        day=days_ago(2),
    )


@pytest.fixture
def school(api: Api, tenant: str) -> str:
    """c1: Alice (strong) and Bob (weak: at risk); c2: Carol, also in c1 through one event;
    Dan in no class. Another tenant has a c1 and an Alice of its own."""
    strong: dict[str, Any] = {"component": "completion", "day": days_ago(1)}
    ingest(
        api,
        tenant,
        [
            event("a1", "alice", tenant, class_id="c1", **strong),
            event("a2", "alice", tenant, class_id="c1", day=days_ago(1)),
            weak("b1", "bob", tenant, "c1"),
            event("c1", "Carol", tenant, class_id="c2", **strong),
            event("c2", "Carol", tenant, class_id="c1", day=days_ago(1)),
            event("d1", "dan", tenant, **strong),
            event("d2", "dan", tenant, day=days_ago(1)),
        ],
    )
    other = f"{tenant}-other"
    ingest(api, other, [event("x1", "alice", other, class_id="c1"), weak("x2", "zed", other, "c3")])
    return tenant


def get(client: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- GET /v1/classes -----------------------------------------------------------------------------


def test_an_admin_lists_every_class_of_its_tenant_as_the_rosters_count_them(
    api: Api, school: str
) -> None:
    admin = api.as_("admin", "root", school)

    listed = get(admin, "/v1/classes")

    assert listed["tenant_id"] == school
    assert [c["class_id"] for c in listed["classes"]] == ["c1", "c2"]
    for summary in listed["classes"]:
        roster = get(admin, f"/v1/classes/{summary['class_id']}/mastery")["students"]
        scores = [s["mastery_score"] for s in roster]
        assert summary["students"] == len(roster)
        assert summary["mean_mastery"] == round(sum(scores) / len(scores), 3)
        assert summary["at_risk"] == sum(s["at_risk"] for s in roster)
    assert listed["classes"][0]["students"] == 3
    assert listed["classes"][0]["at_risk"] == 1  # bob


def test_a_teacher_lists_only_the_classes_of_its_token(api: Api, school: str) -> None:
    teacher = api.as_("teacher", "t1", school, classes=["c2", "c9"], students=["bob"])

    listed = get(teacher, "/v1/classes")["classes"]

    assert [(c["class_id"], c["students"]) for c in listed] == [("c2", 1), ("c9", 0)]
    assert listed[1]["mean_mastery"] is None
    assert get(api.as_("teacher", "t2", school), "/v1/classes")["classes"] == []


def test_a_student_reads_no_class_and_a_service_token_is_refused(api: Api, school: str) -> None:
    assert get(api.as_("student", "alice", school), "/v1/classes")["classes"] == []
    assert api.as_("service", "agent", school).get("/v1/classes").status_code == 403
    assert api.client.get("/v1/classes").status_code == 401
    assert api.as_("admin", "root", school).get("/v1/classes?x=1").status_code == 422


def test_classes_never_cross_tenants(api: Api, school: str) -> None:
    other = api.as_("admin", "root", f"{school}-other")

    listed = get(other, "/v1/classes")["classes"]

    assert [(c["class_id"], c["students"]) for c in listed] == [("c1", 1), ("c3", 1)]


def test_an_erased_students_class_is_gone_once_its_roster_is_empty(api: Api, tenant: str) -> None:
    ingest(api, tenant, [event("e1", "erin", tenant, class_id="solo")])
    admin = api.as_("admin", "root", tenant)
    assert [c["class_id"] for c in get(admin, "/v1/classes")["classes"]] == ["solo"]

    assert admin.delete("/v1/students/erin").status_code == 200

    assert get(admin, "/v1/classes")["classes"] == []


# --- GET /v1/students ----------------------------------------------------------------------------


def ids(client: httpx.Client, **params: Any) -> list[str]:
    return [s["student_id"] for s in get(client, "/v1/students", **params)["students"]]


def test_an_admin_finds_every_student_of_its_tenant(api: Api, school: str) -> None:
    admin = api.as_("admin", "root", school)

    found = get(admin, "/v1/students")

    assert [s["student_id"] for s in found["students"]] == ["Carol", "alice", "bob", "dan"]
    assert found["next_cursor"] is None
    carol = found["students"][0]
    assert carol["class_ids"] == ["c1", "c2"]
    assert found["students"][3]["class_ids"] == []
    mastery = get(admin, "/v1/students/Carol/mastery")
    assert (carol["mastery_score"], carol["level"]) == (mastery["mastery_score"], mastery["level"])
    bob = found["students"][2]
    assert bob["at_risk"] is True
    roster = get(admin, "/v1/classes/c1/mastery")["students"]
    assert {s["student_id"]: s["at_risk"] for s in roster} == {
        s["student_id"]: s["at_risk"] for s in found["students"] if "c1" in s["class_ids"]
    }


def test_students_are_filtered(api: Api, school: str) -> None:
    admin = api.as_("admin", "root", school)

    assert ids(admin, q="CAR") == ["Carol"]
    assert ids(admin, q="a") == ["Carol", "alice", "dan"]
    assert ids(admin, **{"class": "c2"}) == ["Carol"]
    assert ids(admin, **{"class": "c9"}) == []
    assert ids(admin, at_risk="true") == ["bob"]
    assert ids(admin, at_risk="false", q="b") == []
    bob_level = get(admin, "/v1/students/bob/mastery")["level"]
    assert "bob" in ids(admin, level=bob_level)
    assert all(
        s["level"] == bob_level for s in get(admin, "/v1/students", level=bob_level)["students"]
    )


def test_students_are_paged_with_an_opaque_cursor(api: Api, school: str) -> None:
    admin = api.as_("admin", "root", school)

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page = get(admin, "/v1/students", limit=1, **({"cursor": cursor} if cursor else {}))
        seen += [s["student_id"] for s in page["students"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == ["Carol", "alice", "bob", "dan"]


def test_a_teacher_finds_its_classes_students_and_its_named_students(api: Api, school: str) -> None:
    teacher = api.as_("teacher", "t1", school, classes=["c2"], students=["dan", "ghost"])

    assert ids(teacher) == ["Carol", "dan"]
    assert ids(teacher, **{"class": "c1"}) == ["Carol"]  # alice and bob are not its students
    assert ids(api.as_("teacher", "t2", school)) == []


def test_a_student_finds_only_themself(api: Api, school: str) -> None:
    assert ids(api.as_("student", "bob", school)) == ["bob"]
    assert ids(api.as_("student", "bob", school), q="alice") == []
    assert api.as_("service", "agent", school).get("/v1/students").status_code == 403


def test_students_never_cross_tenants(api: Api, school: str) -> None:
    assert ids(api.as_("admin", "root", f"{school}-other")) == ["alice", "zed"]
    assert ids(api.as_("teacher", "t", f"{school}-other", classes=["c2"])) == []


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("limit=0", "query.limit"),
        ("limit=201", "query.limit"),
        ("level=wizard", "query.level"),
        ("at_risk=maybe", "query.at_risk"),
        ("class=a%20b", "query.class"),
        ("cursor=!!", "query.cursor"),
        ("cursor=Zm9vIGJhcg", "query.cursor"),  # base64 of "foo bar": not an id
        (f"q={'x' * 129}", "query.q"),
        ("sort=name", "query.sort"),
        ("limit=1&limit=2", "query.limit"),
    ],
)
def test_invalid_search_parameters_are_422_with_field_errors(
    api: Api, school: str, query: str, loc: str
) -> None:
    response = api.as_("admin", "root", school).get(f"/v1/students?{query}")

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["loc"] for e in response.json()["errors"]] == [loc]


# --- history, topics, recommendations, no data ---------------------------------------------------


def test_a_filled_history_has_one_point_per_day_carried_forward(api: Api, tenant: str) -> None:
    ingest(
        api,
        tenant,
        [
            event("h1", "hana", tenant, day=days_ago(5)),
            event("h2", "hana", tenant, component="completion", day=days_ago(3)),
        ],
    )
    admin = api.as_("admin", "root", tenant)
    start, today = days_ago(7).date(), days_ago(0).date()

    filled = get(admin, "/v1/students/hana/mastery/history", fill="true", **{"from": start})
    sparse = get(admin, "/v1/students/hana/mastery/history", **{"from": start})

    days = [date.fromisoformat(p["as_of"]) for p in filled["snapshots"]]
    assert days == [days_ago(n).date() for n in range(5, -1, -1)]  # from her first day
    assert days[-1] == today
    assert [p["as_of"] for p in sparse["snapshots"]] == [
        days_ago(5).date().isoformat(),
        days_ago(3).date().isoformat(),
    ]
    for point in filled["snapshots"]:
        same_day = get(admin, "/v1/students/hana/mastery", as_of=point["as_of"])
        assert point["mastery_score"] == same_day["mastery_score"]
        assert point["components"] == same_day["components"]
    quiet = filled["snapshots"][1]  # four days ago: yesterday's score, consistency decayed
    assert quiet["components"]["consistency"] < filled["snapshots"][0]["components"]["consistency"]
    assert get(admin, "/v1/students/hana/mastery/history", fill="false") == get(
        admin, "/v1/students/hana/mastery/history"
    )
    bad = admin.get("/v1/students/hana/mastery/history", params={"fill": "sometimes"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"] == "query.fill"


def test_a_topic_recommendation_names_its_topic_and_topics_carry_evidence(
    api: Api, school: str
) -> None:
    admin = api.as_("admin", "root", school)

    mastery = get(admin, "/v1/students/bob/mastery")
    recommendations = get(admin, "/v1/students/bob/recommendations")["recommendations"]
    topics = get(admin, "/v1/students/bob/topics")["topics"]

    weak_topic = {
        "action": "practice",
        "area": "topic:python.loops",
        "priority": "high",
        "topic": "python.loops",
    }
    assert weak_topic in mastery["recommendations"]
    assert weak_topic in recommendations
    assert all(r["topic"] is None for r in recommendations if r != weak_topic)
    assert topics["python.loops"]["evidence"] == {
        "completion": 0,
        "quiz": 1,
        "quality": 0,
        "consistency": 0,
    }
    assert mastery["topics"]["python.loops"]["evidence"] == topics["python.loops"]["evidence"]


def test_a_date_before_the_first_event_says_there_is_no_data(api: Api, school: str) -> None:
    admin = api.as_("admin", "root", school)

    before = get(admin, "/v1/students/bob/mastery", as_of=days_ago(3).date().isoformat())
    after = get(admin, "/v1/students/bob/mastery", as_of=days_ago(2).date().isoformat())
    now = get(admin, "/v1/students/bob/mastery")

    assert before["no_data"] is True
    assert (before["recommendations"], before["learning_path"], before["topics"]) == ([], [], {})
    assert before["event_count"] == 0
    assert after["no_data"] is now["no_data"] is False
    assert after["recommendations"] and now["learning_path"]


# --- cross-origin access -------------------------------------------------------------------------


def test_the_configured_origin_may_call_the_api_from_a_browser(api: Api, school: str) -> None:
    preflight = api.client.options(
        "/v1/classes",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    response = api.as_("admin", "root", school).get("/v1/classes", headers={"Origin": ORIGIN})

    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "DELETE" in preflight.headers["access-control-allow-methods"]
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert response.headers["access-control-allow-origin"] == ORIGIN
    stranger = api.client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in stranger.headers


def test_cross_origin_access_is_off_unless_configured() -> None:
    app = create_app(Settings(jwt_secret=SECRET))  # no lifespan: these reads need no services

    async def ask() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return (
                await client.get("/healthz", headers={"Origin": ORIGIN}),
                await client.options(
                    "/v1/classes",
                    headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"},
                ),
            )

    # On a thread of its own: asyncio.run refuses a thread where a loop is already running.
    with ThreadPoolExecutor(max_workers=1) as thread:
        response, preflight = thread.submit(asyncio.run, ask()).result()

    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code == 405
