"""The query API over real HTTP: every route, every role, the 401/403/404/409/413/422 matrix,
read-your-writes, and one access-log row per read."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import psycopg
import pytest

from tests.e2e.http.support import SECRET, Api, event

STUDENT_ROUTES = [
    "mastery",
    "mastery/history",
    "topics",
    "prediction",
    "recommendations",
    "events",
    "timeline",
]
PROBLEM = "application/problem+json"


def ingest(api: Api, tenant: str, events: list[dict[str, Any]]) -> int:
    response = api.as_("service", "agent", tenant).post("/v1/events", json={"events": events})
    assert response.status_code == 200, response.text
    position: int = response.json()["position"]
    return position


def wait_projected(api: Api, position: int) -> None:
    api.container.view.wait("mastery", position, timeout=10)


def days_ago(n: int) -> datetime:
    return datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=n)


def access_rows(api: Api, tenant: str, expected: int) -> list[tuple[Any, ...]]:
    """The access-log rows of ``tenant`` (and of unauthenticated reads), once ``expected`` exist."""
    url = api.container.settings.require_database_url()
    deadline = time.monotonic() + 10
    while True:
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT subject, role, tenant_id, student_id, class_id, route, action, outcome,"
                " status, request_id FROM access_log WHERE tenant_id = %s ORDER BY id",
                (tenant,),
            ).fetchall()
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    return body


@pytest.fixture
def cohort(api: Api, tenant: str) -> dict[str, Any]:
    """Two students of class c1 and one of c2, with activity on three days."""
    events = []
    for i, student in enumerate(("s1", "s2", "s3")):
        klass = "c1" if student != "s3" else "c2"
        for day in (5, 3, 1):
            events.append(
                event(
                    f"{student}-q{day}",
                    student,
                    tenant,
                    day=days_ago(day),
                    class_id=klass,
                    data={"total_questions": 10, "correct_answers": 3 + i + (5 - day)},
                )
            )
        events.append(
            event(
                f"{student}-c",
                student,
                tenant,
                component="completion",
                day=days_ago(1),
                class_id=klass,
                topic="python.functions",
            )
        )
    position = ingest(api, tenant, events)
    wait_projected(api, position)
    return {"position": position, "events": events}


def test_every_student_route_answers_an_admin(
    api: Api, tenant: str, cohort: dict[str, Any]
) -> None:
    admin = api.as_("admin", "root", tenant)
    bodies = {}
    for route in STUDENT_ROUTES:
        response = admin.get(f"/v1/students/s1/{route}")
        assert response.status_code == 200, (route, response.text)
        assert response.headers["content-type"] == "application/json"
        bodies[route] = response.json()

    mastery = bodies["mastery"]
    assert mastery["tenant_id"] == tenant and mastery["student_id"] == "s1"
    assert mastery["source"] == "read_model" and mastery["stale"] is False
    assert mastery["event_count"] == 4
    assert set(mastery["topics"]) == {"python.loops", "python.functions"}
    assert mastery["recommendations"] and mastery["learning_path"]
    assert [s["as_of"] for s in bodies["mastery/history"]["snapshots"]] == [
        days_ago(n).date().isoformat() for n in (5, 3, 1)
    ]
    assert bodies["prediction"]["trend"] == "improving"
    assert bodies["prediction"]["confidence"] == 0.3
    assert [e["event_id"] for e in bodies["events"]["events"]] == [
        "s1-q5",
        "s1-q3",
        "s1-c",  # learning-time order: s1-c and s1-q1 share a time, the event id decides
        "s1-q1",
    ]
    assert len(bodies["timeline"]["steps"]) == 4
    last = bodies["timeline"]["steps"][-1]
    day = last["timestamp"][:10]
    as_of_last = admin.get("/v1/students/s1/mastery", params={"as_of": day}).json()
    assert last["mastery_score"] == as_of_last["mastery_score"]


def test_mastery_as_of_a_past_date_matches_the_replay(
    api: Api, tenant: str, cohort: dict[str, Any]
) -> None:
    admin = api.as_("admin", "root", tenant)
    for n in (6, 4, 3, 2, 0):
        day = days_ago(n).date().isoformat()
        read = admin.get("/v1/students/s2/mastery", params={"as_of": day}).json()
        steps = admin.get("/v1/students/s2/timeline").json()["steps"]
        assert read["as_of"] == day
        if n == 6:
            assert read["event_count"] == 0
        else:
            assert read["event_count"] == len([s for s in steps if s["timestamp"][:10] <= day])


def test_events_are_paged_with_a_cursor(api: Api, tenant: str, cohort: dict[str, Any]) -> None:
    admin = api.as_("admin", "root", tenant)
    first = admin.get("/v1/students/s3/events", params={"limit": 3}).json()
    second = admin.get("/v1/students/s3/events", params={"limit": 3, "after": first["next"]}).json()
    ids = [e["event_id"] for e in first["events"] + second["events"]]
    assert ids == ["s3-q5", "s3-q3", "s3-c", "s3-q1"]
    assert second["next"] is None


def test_class_roster_for_admin_and_teacher(api: Api, tenant: str, cohort: dict[str, Any]) -> None:
    for client in (
        api.as_("admin", "root", tenant),
        api.as_("teacher", "t1", tenant, classes=["c1"]),
    ):
        body = client.get("/v1/classes/c1/mastery").json()
        assert [s["student_id"] for s in body["students"]] == ["s1", "s2"]
        assert all(isinstance(s["at_risk"], bool) for s in body["students"])
    teacher = api.as_("teacher", "t1", tenant, classes=["c1"])
    assert_problem(teacher.get("/v1/classes/c2/mastery"), 403)
    assert_problem(api.as_("student", "s1", tenant).get("/v1/classes/c1/mastery"), 403)
    assert_problem(api.as_("admin", "root", tenant).get("/v1/classes/nope/mastery"), 404)


def test_ingest_then_read_your_write(api: Api, tenant: str) -> None:
    service = api.as_("service", "agent", tenant)
    written = event("w1", "writer", tenant)
    response = service.post("/v1/events", json=written)
    assert response.status_code == 201
    position = response.json()["position"]
    read = api.as_("student", "writer", tenant).get(
        "/v1/students/writer/mastery", params={"min_position": position, "wait_ms": 5000}
    )
    body = read.json()
    assert body["stale"] is False and body["source"] == "read_model"
    assert body["event_count"] == 1 and body["position"] >= position

    again = service.post("/v1/events", json=written)
    assert again.status_code == 200
    assert again.json()["outcomes"][0]["status"] == "duplicate"

    far = api.as_("student", "writer", tenant).get(
        "/v1/students/writer/mastery", params={"min_position": 10**9, "wait_ms": 200}
    )
    assert far.json()["stale"] is True


def test_batch_ingest_reports_each_event(api: Api, tenant: str) -> None:
    good = event("b1", "s9", tenant)
    conflicting = {**good, "topic": "other"}
    foreign = event("b2", "s9", "another-tenant")
    invalid = {**event("b3", "s9", tenant), "component": "nope"}
    no_tenant = {k: v for k, v in event("b4", "s9", tenant).items() if k != "tenant_id"}
    response = api.as_("service", "agent", tenant).post(
        "/v1/events", json={"events": [good, conflicting, foreign, invalid, no_tenant]}
    )
    body = response.json()
    assert response.status_code == 200
    assert [o["status"] for o in body["outcomes"]] == [
        "recorded",
        "conflict",
        "rejected",
        "rejected",
        "recorded",
    ]
    assert body["outcomes"][2]["code"] == "forbidden_tenant"
    assert body["counts"] == {"recorded": 2, "conflict": 1, "rejected": 2}


def test_single_event_conflict_and_rejection(api: Api, tenant: str) -> None:
    service = api.as_("service", "agent", tenant)
    assert service.post("/v1/events", json=event("x1", "s1", tenant)).status_code == 201
    conflict = assert_problem(
        service.post("/v1/events", json={**event("x1", "s1", tenant), "topic": "t2"}), 409
    )
    assert conflict["outcome"]["status"] == "conflict"
    rejected = assert_problem(
        service.post("/v1/events", json={**event("x2", "s1", tenant), "data": {"x": 1}}), 422
    )
    assert rejected["errors"]
    assert_problem(service.post("/v1/events", content=b"{not json"), 422)
    assert_problem(service.post("/v1/events", json=[1, 2]), 422)


def test_too_large_bodies_are_refused(api: Api, tenant: str) -> None:
    service = api.as_("service", "agent", tenant)
    huge = b'{"events": [' + b" " * (1024 * 1024 + 1) + b"]}"
    assert_problem(service.post("/v1/events", content=huge), 413)
    chunked = service.post("/v1/events", content=iter([b'{"events": [', b" " * (1024 * 1024 + 1)]))
    assert_problem(chunked, 413)
    many = [event(f"m{i}", "s1", tenant) for i in range(1001)]
    assert_problem(service.post("/v1/events", json={"events": many}), 413)


def test_who_may_read_whom(api: Api, tenant: str, cohort: dict[str, Any]) -> None:
    allowed = [
        api.as_("student", "s1", tenant),
        api.as_("teacher", "t1", tenant, students=["s1"]),
        api.as_("teacher", "t2", tenant, classes=["c1"]),
        api.as_("admin", "root", tenant),
    ]
    for client in allowed:
        for route in STUDENT_ROUTES:
            assert client.get(f"/v1/students/s1/{route}").status_code == 200, route

    refused = [
        api.as_("student", "s2", tenant),  # another student
        api.as_("teacher", "t1", tenant, students=["s2"]),  # outside their list
        api.as_("teacher", "t2", tenant, classes=["c2"]),  # not on their class's roster
        api.as_("service", "agent", tenant),  # ingest only
    ]
    for client in refused:
        for student in ("s1", "no-such-student"):  # 403 whether or not the student exists
            assert_problem(client.get(f"/v1/students/{student}/mastery"), 403)

    assert_problem(api.as_("admin", "root", tenant).get("/v1/students/nobody/mastery"), 404)
    for route in STUDENT_ROUTES:
        assert_problem(api.as_("admin", "root", tenant).get(f"/v1/students/nobody/{route}"), 404)
    student = api.as_("student", "s1", tenant)
    assert_problem(student.post("/v1/events", json=event("z", "s1", tenant)), 403)
    assert_problem(student.get("/v1/status"), 403)


def test_a_token_never_reaches_another_tenant(
    api: Api, tenant: str, cohort: dict[str, Any]
) -> None:
    other = api.as_("admin", "root", "some-other-tenant")
    assert_problem(other.get("/v1/students/s1/mastery"), 404)
    same_id_other_tenant = api.as_("student", "s1", "some-other-tenant")
    assert_problem(same_id_other_tenant.get("/v1/students/s1/mastery"), 404)


def test_bad_tokens_are_refused_and_logged(
    api: Api, tenant: str, cohort: dict[str, Any], public_pem: str
) -> None:
    now = int(time.time())
    claims = {"sub": "s1", "role": "admin", "tenant": tenant, "exp": now + 600}
    none_token = jwt.encode(claims, None, algorithm="none")
    expired = api.tokens.mint("admin", "root", tenant, ttl=timedelta(seconds=-120))
    header = jwt.utils.base64url_encode(b'{"alg":"HS256","typ":"JWT"}')
    payload = jwt.utils.base64url_encode(jwt.api_jws.json.dumps(claims).encode())
    import hashlib
    import hmac

    signing_input = header + b"." + payload
    signature = hmac.new(public_pem.encode(), signing_input, hashlib.sha256).digest()
    confused = (signing_input + b"." + jwt.utils.base64url_encode(signature)).decode()
    no_exp = jwt.encode({k: v for k, v in claims.items() if k != "exp"}, SECRET, algorithm="HS256")
    wrong_secret = jwt.encode(claims, "another-secret-0123456789-0123456789", algorithm="HS256")
    bad_role = jwt.encode({**claims, "role": "root"}, SECRET, algorithm="HS256")
    rs256 = api.tokens.mint("admin", "root", tenant, algorithm="RS256")

    assert (
        api.client.get(
            "/v1/students/s1/mastery", headers={"Authorization": f"Bearer {rs256}"}
        ).status_code
        == 200
    )
    before = len(access_rows(api, "-", 0))
    for token in (none_token, expired, confused, no_exp, wrong_secret, bad_role, "garbage"):
        response = api.client.get(
            "/v1/students/s1/mastery", headers={"Authorization": f"Bearer {token}"}
        )
        body = assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert token not in body["detail"]
    assert_problem(api.client.get("/v1/students/s1/mastery"), 401)
    assert_problem(
        api.client.get("/v1/students/s1/mastery", headers={"Authorization": "Basic abc"}), 401
    )
    rows = access_rows(api, "-", before + 9)
    assert len(rows) >= before + 9
    assert {r[7] for r in rows[before:]} == {"unauthenticated"}


def test_invalid_input_is_422_with_field_errors(
    api: Api, tenant: str, cohort: dict[str, Any]
) -> None:
    admin = api.as_("admin", "root", tenant)
    cases = [
        ("/v1/students/bad%20id/mastery", None, "path.id"),
        ("/v1/students/s1/mastery", {"as_of": "yesterday"}, "query.as_of"),
        ("/v1/students/s1/mastery", {"as_of": "1700000000"}, "query.as_of"),
        ("/v1/students/s1/mastery", {"wait_ms": "9000"}, "query.wait_ms"),
        ("/v1/students/s1/mastery", {"unknown": "1"}, "query.unknown"),
        ("/v1/students/s1/prediction", {"days": "0"}, "query.days"),
        ("/v1/students/s1/events", {"limit": "5000"}, "query.limit"),
        ("/v1/students/s1/mastery/history", {"from": "2026-02-01", "to": "2026-01-01"}, "query"),
        ("/v1/students/s1/topics", {"x": "1"}, "query.x"),
        ("/v1/classes/c!/mastery", None, "path.id"),
    ]
    for path, params, loc in cases:
        body = assert_problem(admin.get(path, params=params), 422)
        assert any(e["loc"].startswith(loc) for e in body["errors"]), (path, body)
    repeated = assert_problem(
        admin.get("/v1/students/s1/mastery?as_of=2026-01-01&as_of=2026-01-02"), 422
    )
    assert repeated["errors"][0]["loc"] == "query.as_of"


def test_access_log_has_one_row_per_read(api: Api, tenant: str, cohort: dict[str, Any]) -> None:
    student = api.as_("student", "s1", tenant)
    teacher = api.as_("teacher", "t9", tenant, classes=["c2"])
    statuses = [
        student.get("/v1/students/s1/mastery").status_code,
        student.get("/v1/students/s1/topics").status_code,
        student.get("/v1/students/s2/mastery").status_code,
        teacher.get("/v1/students/s1/timeline").status_code,
        teacher.get("/v1/classes/c2/mastery").status_code,
    ]
    assert statuses == [200, 200, 403, 403, 200]
    rows = access_rows(api, tenant, 5)
    assert [(r[0], r[1], r[3], r[4], r[6], r[7], r[8]) for r in rows] == [
        ("s1", "student", "s1", None, "read_mastery", "ok", 200),
        ("s1", "student", "s1", None, "read_topics", "ok", 200),
        ("s1", "student", "s2", None, "read_mastery", "denied", 403),
        ("t9", "teacher", "s1", None, "read_timeline", "denied", 403),
        ("t9", "teacher", None, "c2", "read_class_mastery", "ok", 200),
    ]
    assert rows[0][5] == "/v1/students/{id}/mastery"
    assert all(r[9] for r in rows)


def test_request_ids_are_echoed_or_generated(api: Api) -> None:
    given = api.client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    generated = api.client.get("/healthz", headers={"X-Request-ID": "bad id!"})
    assert len(generated.headers["x-request-id"]) == 32


def test_operations_routes(api: Api, tenant: str) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {
        "postgresql": "ok",
        "redis": "ok",
        "access-log": "ok",
        "projector": "ok",
    }
    api.client.get("/v1/students/s1/mastery")
    metrics = api.client.get("/metrics").text
    assert (
        'mastery_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/v1/students/{id}/mastery",status="401"}'
        in metrics
    )
    assert "mastery_projection_lag" in metrics
    status = api.as_("admin", "root", tenant).get("/v1/status").json()
    assert status["projections"][0]["name"] == "mastery"
    assert status["event_store_head"] >= status["projections"][0]["position"]
    assert {w["name"]: w["state"] for w in status["workers"]} == {
        "access-log": "running",
        "projector": "running",
    }
    assert status["kafka"] is None  # not configured
    assert_problem(api.client.get("/no/such/route"), 404)
    assert_problem(api.client.delete("/v1/events"), 405)


def test_openapi_document_is_valid(api: Api) -> None:
    from openapi_spec_validator import validate

    document = api.client.get("/openapi.json").json()
    validate(document)
    assert document["openapi"].startswith("3.")
    assert "/v1/students/{id}/mastery" in document["paths"]


def test_a_mastery_exactly_on_a_level_threshold_is_read_at_that_level(
    api: Api, tenant: str
) -> None:
    # 0.4 x 1 + 0.3 x 1 + 0.2 x 0.5 + 0.1 x 1 = 0.9 exactly: "expert". Summed in floats, the
    # read path made it 0.8999999999999999 and answered "proficient".
    moment = days_ago(2)
    quality = {"avg_code_quality": 0.5, "correctness": 0.5, "efficiency": 0.5}
    position = ingest(
        api,
        tenant,
        [
            event(
                "t-c",
                "edge",
                tenant,
                component="completion",
                day=moment,
                data={"total_exercises": 10, "completed_exercises": 10},
            ),
            event(
                "t-q", "edge", tenant, day=moment, data={"total_questions": 4, "correct_answers": 4}
            ),
            event("t-l", "edge", tenant, component="quality", day=moment, data=quality),
        ],
    )
    wait_projected(api, position)

    read = api.as_("admin", "ops", tenant).get(
        "/v1/students/edge/mastery", params={"as_of": moment.date().isoformat()}
    )

    assert read.status_code == 200, read.text
    assert (read.json()["mastery_score"], read.json()["level"]) == (0.9, "expert")
