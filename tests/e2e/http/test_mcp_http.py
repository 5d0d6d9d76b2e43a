"""The MCP server at ``/mcp`` with the SDK's own streamable HTTP client, against the real API:
tool listing and schemas, every tool's answer against the route's, the newest protocol, and a
session answered by more than one server process. Rights, errors and the access log are in
``test_mcp_rights.py``."""

from __future__ import annotations

from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.e2e.http.mcp_support import (
    TOOLS,
    access_rows,
    answer,
    days_ago,
    http_session,
    load_cohort,
    text_of,
    token,
)
from tests.e2e.http.support import Api, running_server


@pytest.fixture
def cohort(api: Api, tenant: str) -> int:
    return load_cohort(api, tenant)


def test_tools_and_the_resource_are_listed_with_precise_schemas(api: Api, tenant: str) -> None:
    async def scenario() -> None:
        async with http_session(api, token(api, "admin", "root", tenant)) as session:
            listed = {tool.name: tool for tool in (await session.list_tools()).tools}
            templates = (await session.list_resource_templates()).resource_templates

        assert set(listed) == TOOLS
        for tool in listed.values():
            assert tool.description and tool.output_schema, tool.name
        mastery = listed["get_mastery"].input_schema
        assert mastery["required"] == ["student_id"]
        assert mastery["properties"]["student_id"]["pattern"] == "^[A-Za-z0-9._-]{1,128}$"
        assert {"format": "date", "type": "string"} in mastery["properties"]["as_of"]["anyOf"]
        days = listed["predict"].input_schema["properties"]["days"]
        assert (days["minimum"], days["maximum"], days["default"]) == (1, 90, 7)
        limit = listed["at_risk_students"].input_schema["properties"]["limit"]
        assert (limit["minimum"], limit["maximum"]) == (1, 200)
        assert listed["class_overview"].input_schema["required"] == ["class_id"]
        event_schema = listed["record_learning_event"].input_schema["properties"]["event"]
        components = [shape["properties"]["component"]["const"] for shape in event_schema["oneOf"]]
        assert sorted(components) == ["completion", "consistency", "quality", "quiz"]
        assert "$ref" not in str(event_schema)  # inlined: nothing dangles
        assert listed["get_mastery"].annotations.read_only_hint is True
        assert listed["record_learning_event"].annotations.read_only_hint is False
        assert [t.uri_template for t in templates] == ["mastery://students/{student_id}/mastery"]
        assert templates[0].mime_type == "application/json"

    anyio.run(scenario)


def test_every_read_tool_answers_what_the_api_answers(api: Api, tenant: str, cohort: int) -> None:
    admin = api.as_("admin", "root", tenant)
    past = days_ago(3).date().isoformat()

    async def scenario() -> dict[str, Any]:
        async with http_session(api, token(api, "admin", "root", tenant)) as session:
            return {
                "mastery": await answer(session, "get_mastery", student_id="s1"),
                "past": await answer(session, "get_mastery", student_id="s1", as_of=past),
                "predict": await answer(session, "predict", student_id="s1", days=14),
                "next": await answer(session, "recommend_next", student_id="s2"),
                "class": await answer(session, "class_overview", class_id="c1"),
                "at_risk": await answer(session, "at_risk_students"),
                "at_risk_c2": await answer(session, "at_risk_students", class_id="c2"),
            }

    got = anyio.run(scenario)
    assert got["mastery"] == admin.get("/v1/students/s1/mastery").json()
    assert got["past"] == admin.get("/v1/students/s1/mastery", params={"as_of": past}).json()
    assert got["past"]["as_of"] == past
    prediction = admin.get("/v1/students/s1/prediction", params={"days": 14}).json()
    assert got["predict"] == prediction and prediction["days"] == 14
    recommendations = admin.get("/v1/students/s2/recommendations").json()
    assert {k: got["next"][k] for k in recommendations} == recommendations
    assert got["next"]["next"] == recommendations["recommendations"][0]
    assert got["next"]["next_activity"] == recommendations["learning_path"][0]
    roster = admin.get("/v1/classes/c1/mastery").json()
    listed = admin.get("/v1/classes").json()["classes"]
    assert got["class"]["students"] == roster["students"]
    assert got["class"]["summary"] == next(c for c in listed if c["class_id"] == "c1")
    assert got["class"]["summary"]["students"] == 2
    at_risk = admin.get("/v1/students", params={"at_risk": "true"}).json()
    assert got["at_risk"] == at_risk
    assert [s["student_id"] for s in at_risk["students"]] == ["s2"]
    at_risk_c2 = admin.get("/v1/students", params={"at_risk": "true", "class": "c2"}).json()
    assert got["at_risk_c2"] == at_risk_c2 and at_risk_c2["students"] == []


def test_explain_mastery_says_why_and_what_would_raise_the_score_most(
    api: Api, tenant: str, cohort: int
) -> None:
    async def scenario() -> dict[str, Any]:
        async with http_session(api, token(api, "student", "s2", tenant)) as session:
            return await answer(session, "explain_mastery", student_id="s2")

    explained = anyio.run(scenario)
    mastery = api.as_("admin", "root", tenant).get("/v1/students/s2/mastery").json()
    assert explained["mastery_score"] == mastery["mastery_score"]
    assert explained["level"] == mastery["level"]
    assert explained["formula"]["name"] == mastery["formula"] == "seed-v1"
    assert explained["formula"]["known"] is True
    weights = {"completion": 0.4, "quiz": 0.3, "quality": 0.2, "consistency": 0.1}
    parts = explained["components"]
    assert [p["component"] for p in parts] == list(weights)
    for part in parts:
        name = part["component"]
        assert part["value"] == mastery["components"][name]
        assert part["weight"] == weights[name]
        assert part["contribution"] == mastery["breakdown"][name]
        counted = "activity_days" if name == "consistency" else name
        assert part["evidence"] == mastery["evidence"][counted]
        assert part["has_evidence"] == (name not in mastery["no_evidence"])
        assert part["potential_gain"] == round(weights[name] * (1 - part["value"]), 3)
    # s2: no quality reviews (0.0 x 0.2 = 0.2 to gain) and quizzes at 0.1 (0.9 x 0.3 = 0.27).
    lever = explained["biggest_lever"]
    assert lever["component"] == "quiz"
    assert lever["gain"] == max(p["potential_gain"] for p in parts)
    assert lever["score_if_perfect"] == round(mastery["mastery_score"] + lever["gain"], 3)
    assert "quiz would raise the score most" in lever["in_words"]
    progress = explained["progress"]
    assert progress["level"] == mastery["level"]
    thresholds = {"developing": 0.4, "competent": 0.6, "proficient": 0.75, "expert": 0.9}
    assert progress["next_threshold"] == thresholds[progress["next_level"]]
    assert progress["distance"] == round(progress["next_threshold"] - mastery["mastery_score"], 3)
    assert "quality" in explained["summary"] and "0.000" in explained["summary"]


def test_the_2026_protocol_goes_through_the_same_gate_and_guard(
    api: Api, tenant: str, cohort: int
) -> None:
    """The SDK's high-level client negotiates the newest protocol (no initialize handshake;
    every request carries its version): the same answers, refusals and access log."""

    async def scenario() -> tuple[str, dict[str, Any], str]:
        headers = {"Authorization": f"Bearer {token(api, 'student', 's1', tenant)}"}
        async with httpx2.AsyncClient(headers=headers, timeout=120) as http:
            transport = streamable_http_client(f"{api.base_url}/mcp", http_client=http)
            async with Client(transport, read_timeout_seconds=120) as client:
                own = await client.call_tool("get_mastery", {"student_id": "s1"})
                other = await client.call_tool("get_mastery", {"student_id": "s2"})
                assert own.structured_content is not None and other.is_error
                return client.protocol_version, own.structured_content, text_of(other)

    version, own, refused = anyio.run(scenario)
    assert version >= "2026-07-28"
    assert own == api.as_("student", "s1", tenant).get("/v1/students/s1/mastery").json()
    assert refused.endswith("forbidden: this token may not read this student")
    rows = access_rows(api, tenant, 2)
    assert [(r["student_id"], r["outcome"], r["route"]) for r in rows] == [
        ("s1", "ok", "/mcp"),
        ("s2", "denied", "/mcp"),
    ]


class RoundRobin(httpx2.AsyncHTTPTransport):
    """A load balancer in the client: each request goes to the next of ``ports``."""

    def __init__(self, ports: list[int]) -> None:
        super().__init__()
        self.ports = ports
        self.sent: list[int] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = self.ports[len(self.sent) % len(self.ports)]
        self.sent.append(port)
        request.url = request.url.copy_with(port=port)
        return await super().handle_async_request(request)


def test_a_session_spans_server_processes_because_none_is_kept(
    api: Api, tenant: str, cohort: int
) -> None:
    """``mastery serve --workers N``: consecutive requests of one client reach different
    processes. Two servers of their own (each with its MCP server and session manager) take
    turns answering one client's session."""
    with running_server(api.container) as other:
        ports = [int(api.base_url.rsplit(":", 1)[1]), int(other.rsplit(":", 1)[1])]
        balancer = RoundRobin(ports)

        async def scenario() -> list[dict[str, Any]]:
            headers = {"Authorization": f"Bearer {token(api, 'admin', 'root', tenant)}"}
            async with (
                httpx2.AsyncClient(headers=headers, transport=balancer, timeout=120) as http,
                streamable_http_client(f"{api.base_url}/mcp", http_client=http) as (r, w),
                ClientSession(r, w, read_timeout_seconds=120) as session,
            ):
                await session.initialize()
                return [
                    await answer(session, "get_mastery", student_id=student)
                    for student in ("s1", "s2", "s3", "s1")
                ]

        answers = anyio.run(scenario)
    assert set(balancer.sent) == set(ports)
    admin = api.as_("admin", "root", tenant)
    assert answers[0] == answers[3] == admin.get("/v1/students/s1/mastery").json()
    assert [a["student_id"] for a in answers] == ["s1", "s2", "s3", "s1"]
