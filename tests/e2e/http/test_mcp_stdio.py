"""``mastery mcp`` spawned as a real process by the SDK's stdio client, on the test's PostgreSQL
and Redis: the same tools, answers, rights and access log as ``/mcp``, with the process's token
as the principal."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from typing import Any

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from tests.e2e.http.mcp_support import (
    REPO_ROOT,
    TOOLS,
    access_rows,
    answer,
    call,
    load_cohort,
    refusal,
    stdio_parameters,
    stdio_session,
    text_of,
)
from tests.e2e.http.support import Api, event


@pytest.fixture
def cohort(api: Api, tenant: str) -> int:
    return load_cohort(api, tenant)


def test_stdio_answers_what_the_api_answers(api: Api, tenant: str, cohort: int) -> None:
    settings = api.container.settings
    admin_token = api.tokens.mint("admin", "root", tenant)

    async def scenario() -> dict[str, Any]:
        async with stdio_session(stdio_parameters(settings, admin_token)) as session:
            tools = {tool.name for tool in (await session.list_tools()).tools}
            resource = await session.read_resource("mastery://students/s3/mastery")
            return {
                "tools": tools,
                "mastery": await answer(session, "get_mastery", student_id="s1"),
                "explained": await answer(session, "explain_mastery", student_id="s1"),
                "predict": await answer(session, "predict", student_id="s3", days=30),
                "class": await answer(session, "class_overview", class_id="c1"),
                "at_risk": await answer(session, "at_risk_students", class_id="c1"),
                "resource": resource.contents[0].text,  # type: ignore[union-attr]
            }

    got = anyio.run(scenario)
    admin = api.as_("admin", "root", tenant)
    assert got["tools"] == TOOLS
    assert got["mastery"] == admin.get("/v1/students/s1/mastery").json()
    assert got["explained"]["mastery_score"] == got["mastery"]["mastery_score"]
    assert got["predict"] == admin.get("/v1/students/s3/prediction", params={"days": 30}).json()
    assert got["class"]["students"] == admin.get("/v1/classes/c1/mastery").json()["students"]
    at_risk = admin.get("/v1/students", params={"at_risk": "true", "class": "c1"}).json()
    assert got["at_risk"] == at_risk
    assert got["resource"] == admin.get("/v1/students/s3/mastery").text


def test_stdio_acts_with_the_rights_of_its_token(api: Api, tenant: str, cohort: int) -> None:
    settings = api.container.settings
    student = stdio_parameters(settings, None)
    student.args += ["--token", api.tokens.mint("student", "s1", tenant)]
    service = stdio_parameters(settings, api.tokens.mint("service", "agent", tenant))
    new = event("stdio-1", "s1", tenant, class_id="c1", component="consistency")

    async def scenario() -> dict[str, Any]:
        async with stdio_session(student) as session:
            own = await answer(session, "recommend_next", student_id="s1")
            other = await refusal(session, "get_mastery", student_id="s2")
            record = await refusal(session, "record_learning_event", event=new)
            with pytest.raises(MCPError) as unreadable:
                await session.read_resource("mastery://students/s2/mastery")
        async with stdio_session(service) as session:
            recorded = await answer(session, "record_learning_event", event=new)
            again = await answer(session, "record_learning_event", event=new)
            unread = await refusal(session, "get_mastery", student_id="s1")
        return {
            "own": own,
            "other": other,
            "record": record,
            "unreadable": unreadable.value.error.message,
            "recorded": recorded,
            "again": again,
            "unread": unread,
        }

    got = anyio.run(scenario)
    assert got["own"]["student_id"] == "s1"
    assert got["other"].endswith("forbidden: this token may not read this student")
    assert got["record"].endswith("forbidden: only a service token may record learning events")
    assert got["unreadable"] == "forbidden: this token may not read this student"
    assert got["recorded"]["outcomes"][0]["status"] == "recorded"
    assert got["again"]["outcomes"][0]["status"] == "duplicate"
    assert got["unread"].endswith("forbidden: this token may not read this student")

    rows = access_rows(api, tenant, 7)
    assert [(r["subject"], r["student_id"], r["action"], r["outcome"]) for r in rows] == [
        ("s1", "s1", "mcp:recommend_next", "ok"),
        ("s1", "s2", "mcp:get_mastery", "denied"),
        ("s1", "s1", "mcp:record_learning_event", "denied"),
        ("s1", "s2", "mcp:read_mastery_resource", "denied"),
        ("agent", "s1", "mcp:record_learning_event", "ok"),
        ("agent", "s1", "mcp:record_learning_event", "ok"),
        ("agent", "s1", "mcp:get_mastery", "denied"),
    ]
    assert {r["route"] for r in rows} == {"stdio"}


@pytest.mark.slow
def test_an_expired_token_is_refused_from_then_on(api: Api, tenant: str, cohort: int) -> None:
    """The token is verified at every call: once expired (no leeway here), calls are refused
    as unauthenticated, and the process keeps answering. Slow: the token must outlive the
    process's start on a busy machine, then expire (the quick version is the unit test of
    ``token_principal``)."""
    short = api.tokens.mint("student", "s1", tenant, ttl=timedelta(seconds=45))
    parameters = stdio_parameters(api.container.settings, short, MASTERY_JWT_LEEWAY_SECONDS="0")

    async def scenario() -> str:
        async with stdio_session(parameters) as session:
            with anyio.fail_after(120):
                while True:  # polls the server until the token's exp has passed
                    result = await call(session, "get_mastery", student_id="s1")
                    if result.is_error:
                        return text_of(result)
                    await anyio.sleep(0.2)

    assert anyio.run(scenario) == "unauthorized: token expired"
    refused = access_rows(api, "-", 1, where="route = 'stdio'")  # no principal: no tenant
    assert [(r["subject"], r["action"], r["outcome"]) for r in refused] == [
        ("-", "mcp:get_mastery", "unauthenticated")
    ]
    assert {r["outcome"] for r in access_rows(api, tenant, 1)} == {"ok"}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "a token is required: --token or MASTERY_MCP_TOKEN"),
        (["--token", "not-a-token"], "the token is not valid: malformed token"),
    ],
)
def test_a_missing_or_bad_token_stops_the_command(
    api: Api, arguments: list[str], message: str
) -> None:
    parameters = stdio_parameters(api.container.settings, None)
    finished = subprocess.run(
        [sys.executable, "-m", "api.cli.main", "mcp", *arguments],
        env=parameters.env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 2, finished.stderr
    assert message in " ".join(finished.stderr.split())
    assert finished.stdout == ""
