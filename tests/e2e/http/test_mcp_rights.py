"""The MCP server at ``/mcp`` with the SDK's own streamable HTTP client: the rights of each
token as on ``/v1``, invalid arguments, the ingest path, the resource, 401s, malformed requests,
erasure, and one access-log row per call."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import anyio
import httpx
import pytest
from mcp.shared.exceptions import MCPError

from tests.e2e.http.mcp_support import (
    INITIALIZE,
    MCP_HEADERS,
    access_rows,
    answer,
    call,
    http_session,
    load_cohort,
    refusal,
    text_of,
    token,
)
from tests.e2e.http.support import Api, event


@pytest.fixture
def cohort(api: Api, tenant: str) -> int:
    return load_cohort(api, tenant)


def test_tokens_read_exactly_what_they_read_on_v1(api: Api, tenant: str, cohort: int) -> None:
    async def scenario() -> None:
        async with http_session(api, token(api, "student", "s1", tenant)) as student:
            assert (await answer(student, "get_mastery", student_id="s1"))["student_id"] == "s1"
            refused = await refusal(student, "get_mastery", student_id="s2")
            assert refused == (
                "Error executing tool get_mastery: forbidden: this token may not read this student"
            )
            assert "forbidden" in await refusal(student, "explain_mastery", student_id="s2")
            assert "forbidden" in await refusal(student, "class_overview", class_id="c1")
            record = await refusal(student, "record_learning_event", event={"event_id": "x"})
            assert record.endswith("forbidden: only a service token may record learning events")
            assert (await answer(student, "at_risk_students"))["students"] == []
            # a refusal is not the end of the session
            assert (await answer(student, "predict", student_id="s1"))["student_id"] == "s1"

        teacher_token = token(api, "teacher", "t1", tenant, classes=["c2"], students=["s1"])
        async with http_session(api, teacher_token) as teacher:
            assert (await answer(teacher, "get_mastery", student_id="s3"))["level"]  # roster
            assert (await answer(teacher, "get_mastery", student_id="s1"))["level"]  # named
            assert "forbidden" in await refusal(teacher, "get_mastery", student_id="s2")
            assert "forbidden" in await refusal(teacher, "class_overview", class_id="c1")
            assert (await answer(teacher, "class_overview", class_id="c2"))["students"]

        async with http_session(api, token(api, "service", "agent", tenant)) as service:
            for tool, arguments in (
                ("get_mastery", {"student_id": "s1"}),
                ("explain_mastery", {"student_id": "s1"}),
                ("recommend_next", {"student_id": "s1"}),
                ("predict", {"student_id": "s1"}),
                ("class_overview", {"class_id": "c1"}),
                ("at_risk_students", {}),
            ):
                assert "forbidden" in await refusal(service, tool, **arguments), tool

        async with http_session(api, token(api, "admin", "root", "other-tenant")) as stranger:
            unknown = await refusal(stranger, "get_mastery", student_id="s1")
            assert unknown.endswith("not found: unknown student")

    anyio.run(scenario)


def test_invalid_arguments_are_tool_errors_and_the_session_goes_on(
    api: Api, tenant: str, cohort: int
) -> None:
    async def scenario() -> None:
        async with http_session(api, token(api, "admin", "root", tenant)) as admin:
            for tool, arguments in (
                ("get_mastery", {"student_id": "bad id!"}),
                ("get_mastery", {"student_id": "s1", "as_of": "2026-13-01"}),
                ("get_mastery", {"student_id": "s1", "as_of": "2026-01-01T00:00:00Z"}),
                ("get_mastery", {}),
                ("predict", {"student_id": "s1", "days": 0}),
                ("predict", {"student_id": "s1", "days": 91}),
                ("at_risk_students", {"limit": 500}),
                ("at_risk_students", {"cursor": "!!"}),
                ("class_overview", {"class_id": "x" * 129}),
                ("no_such_tool", {}),
            ):
                result = await call(admin, tool, **arguments)
                assert result.is_error, (tool, arguments)
                assert text_of(result), (tool, arguments)
            cursor = await refusal(admin, "at_risk_students", cursor="bm90LWEtc3R1ZGVudCE")
            assert "invalid input:" in cursor and "arguments.cursor" in cursor
            unknown = await refusal(admin, "get_mastery", student_id="nobody")
            assert unknown.endswith("not found: unknown student")
            assert (await answer(admin, "get_mastery", student_id="s1"))["student_id"] == "s1"

    anyio.run(scenario)


def test_record_learning_event_goes_through_the_ingest_path(api: Api, tenant: str) -> None:
    new = event("mcp-1", "s9", tenant, class_id="c9")
    changed = {**new, "data": {"total_questions": 10, "correct_answers": 1}}
    invalid = {**event("mcp-bad", "s9", tenant), "data": {"total_questions": 0}}
    elsewhere = event("mcp-2", "s9", "another-tenant")
    no_tenant = {k: v for k, v in event("mcp-3", "s9", tenant).items() if k != "tenant_id"}

    async def scenario() -> list[dict[str, Any]]:
        async with http_session(api, token(api, "service", "agent", tenant)) as service:
            return [
                await answer(service, "record_learning_event", event=body)
                for body in (new, new, changed, invalid, elsewhere, no_tenant)
            ]

    recorded, duplicate, conflict, rejected, foreign, defaulted = anyio.run(scenario)
    assert recorded["outcomes"] == [
        {"status": "recorded", "event_id": "mcp-1", "code": None, "errors": []}
    ]
    assert recorded["counts"] == {"recorded": 1} and recorded["position"] > 0
    assert duplicate["outcomes"][0]["status"] == "duplicate"
    assert duplicate["position"] >= recorded["position"]
    assert conflict["outcomes"][0]["status"] == "conflict"
    assert foreign["outcomes"][0]["code"] == "forbidden_tenant"
    assert defaulted["outcomes"][0]["status"] == "recorded"
    # the same invalid event answered by POST /v1/events: the same outcome, the same errors
    service = api.as_("service", "agent", tenant)
    by_api = service.post("/v1/events", json={"events": [invalid]}).json()
    assert rejected == by_api and rejected["outcomes"][0]["status"] == "rejected"
    assert service.post("/v1/events", json=new).status_code == 200  # a duplicate on /v1 too
    api.container.view.wait("mastery", defaulted["position"], timeout=30)
    mastery = api.as_("admin", "root", tenant).get("/v1/students/s9/mastery").json()
    assert mastery["event_count"] == 2


def test_the_mastery_resource_reads_under_the_same_rights(
    api: Api, tenant: str, cohort: int
) -> None:
    async def scenario() -> tuple[str, list[str]]:
        async with http_session(api, token(api, "student", "s1", tenant)) as student:
            read = await student.read_resource("mastery://students/s1/mastery")
            errors = []
            for uri in ("mastery://students/s2/mastery", "mastery://students/bad%20id/mastery"):
                with pytest.raises(MCPError) as refused:
                    await student.read_resource(uri)
                errors.append(refused.value.error.message)
            assert (await answer(student, "get_mastery", student_id="s1"))["student_id"] == "s1"
        (content,) = read.contents
        assert content.mime_type == "application/json"
        return content.text, errors  # type: ignore[union-attr]

    text, errors = anyio.run(scenario)
    api_answer = api.as_("student", "s1", tenant).get("/v1/students/s1/mastery").json()
    assert httpx.Response(200, content=text).json() == api_answer
    assert errors[0] == "forbidden: this token may not read this student"
    assert errors[1].startswith("invalid input:")


def test_no_token_or_a_bad_token_is_a_401_and_logged(api: Api, tenant: str) -> None:
    request_ids = [f"mcp-{uuid.uuid4().hex}" for _ in range(3)]
    expired = api.tokens.mint("admin", "root", tenant, ttl=-timedelta(hours=1))
    for request_id, authorization in zip(
        request_ids, (None, "Bearer not-a-token", f"Bearer {expired}"), strict=True
    ):
        headers = {**MCP_HEADERS, "X-Request-ID": request_id}
        if authorization:
            headers["Authorization"] = authorization
        response = api.client.post("/mcp", json=INITIALIZE, headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["instance"] == "/mcp"

    rows = access_rows(api, "-", 3, where="request_id IN ('" + "','".join(request_ids) + "')")
    assert [(r["route"], r["action"], r["outcome"], r["status"]) for r in rows] == [
        ("/mcp", "mcp", "unauthenticated", 401)
    ] * 3

    async def without_token() -> None:
        async with http_session(api, None):
            pass

    with pytest.raises(Exception):  # noqa: B017, PT011 - the SDK reports the 401 its own way
        anyio.run(without_token)


def test_each_call_writes_one_access_log_row(api: Api, tenant: str, cohort: int) -> None:
    async def scenario() -> None:
        teacher = token(api, "teacher", "t1", tenant, classes=["c1"], students=["ghost"])
        async with http_session(api, teacher) as t:
            await answer(t, "get_mastery", student_id="s1")
            await refusal(t, "get_mastery", student_id="s3")
            await refusal(t, "predict", student_id="s1", days=0)
            await answer(t, "class_overview", class_id="c1")
            await refusal(t, "get_mastery", student_id="ghost")
            await t.read_resource("mastery://students/s2/mastery")
            await refusal(t, "record_learning_event", event={"student_id": "s1"})
            await answer(t, "at_risk_students", class_id="c1")

    anyio.run(scenario)
    rows = access_rows(api, tenant, 8)
    assert [
        (r["subject"], r["role"], r["student_id"], r["class_id"], r["action"], r["outcome"])
        for r in rows
    ] == [
        ("t1", "teacher", "s1", None, "mcp:get_mastery", "ok"),
        ("t1", "teacher", "s3", None, "mcp:get_mastery", "denied"),
        ("t1", "teacher", "s1", None, "mcp:predict", "invalid"),
        ("t1", "teacher", None, "c1", "mcp:class_overview", "ok"),
        ("t1", "teacher", "ghost", None, "mcp:get_mastery", "not_found"),
        ("t1", "teacher", "s2", None, "mcp:read_mastery_resource", "ok"),
        ("t1", "teacher", "s1", None, "mcp:record_learning_event", "denied"),
        ("t1", "teacher", None, "c1", "mcp:at_risk_students", "ok"),
    ]
    assert {r["route"] for r in rows} == {"/mcp"}
    assert [r["status"] for r in rows] == [200, 403, 422, 200, 404, 200, 403, 200]


def test_malformed_requests_get_4xx_answers_never_5xx(api: Api, tenant: str) -> None:
    headers = {
        **MCP_HEADERS,
        "Authorization": f"Bearer {token(api, 'admin', 'root', tenant)}",
        "Content-Type": "application/json",
    }
    client = api.client
    answers = {
        "not json": client.post("/mcp", content=b"{not json", headers=headers),
        "not json-rpc": client.post("/mcp", json={"hello": 1}, headers=headers),
        "a list": client.post("/mcp", json=[1, 2], headers=headers),
        "too large": client.post("/mcp", content=b"[" + b" " * (2 << 20) + b"]", headers=headers),
        "get": client.get("/mcp", headers=headers),
        "delete": client.delete("/mcp", headers=headers),
        "text": client.post(
            "/mcp", content=b"x", headers={**headers, "Content-Type": "text/plain"}
        ),
        "no accept": client.post(
            "/mcp", json=INITIALIZE, headers={**headers, "Accept": "text/html"}
        ),
    }
    for name, response in answers.items():
        assert 400 <= response.status_code < 500, (name, response.status_code, response.text)
    assert answers["too large"].status_code == 413
    assert answers["get"].status_code == answers["delete"].status_code == 405
    ok = client.post("/mcp", json=INITIALIZE, headers=headers)
    assert ok.status_code == 200 and ok.json()["result"]["serverInfo"]["name"] == "mastery-engine"


def test_an_erased_student_is_gone_over_mcp_too(api: Api, tenant: str, cohort: int) -> None:
    assert api.as_("admin", "root", tenant).delete("/v1/students/s3").status_code == 200

    async def scenario() -> tuple[str, str]:
        async with http_session(api, token(api, "admin", "root", tenant)) as admin:
            tool = await refusal(admin, "explain_mastery", student_id="s3")
            with pytest.raises(MCPError) as refused:
                await admin.read_resource("mastery://students/s3/mastery")
            return tool, refused.value.error.message

    tool, resource = anyio.run(scenario)
    assert tool.endswith("gone: this student's data has been erased")
    assert resource == "gone: this student's data has been erased"
    rows = access_rows(api, tenant, 2)
    assert [(r["action"], r["outcome"], r["status"]) for r in rows] == [
        ("mcp:explain_mastery", "erased", 410),
        ("mcp:read_mastery_resource", "erased", 410),
    ]
