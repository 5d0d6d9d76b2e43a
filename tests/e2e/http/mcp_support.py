"""MCP clients of the end-to-end tests: the SDK's own, over streamable HTTP against the test's
uvicorn server, and over stdio against ``mastery mcp`` spawned as a real process on the test's
PostgreSQL and Redis."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import psycopg
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent

from infrastructure.settings import Settings
from tests.e2e.http.support import Api, event

REPO_ROOT = Path(__file__).resolve().parents[3]
CALL_TIMEOUT = 120.0  # a busy machine: the first call of a fresh process imports a lot
TOOLS = {
    "get_mastery",
    "explain_mastery",
    "recommend_next",
    "class_overview",
    "at_risk_students",
    "predict",
    "record_learning_event",
}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@asynccontextmanager
async def http_session(api: Api, token: str | None) -> AsyncIterator[ClientSession]:
    """An initialized session with ``/mcp`` of the test's API, sending ``token``."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=CALL_TIMEOUT) as client,
        streamable_http_client(f"{api.base_url}/mcp", http_client=client) as (read, write),
        ClientSession(read, write, read_timeout_seconds=CALL_TIMEOUT) as session,
    ):
        await session.initialize()
        yield session


def stdio_parameters(settings: Settings, token: str | None, **env: str) -> StdioServerParameters:
    """``mastery mcp`` on the test's servers, as an agent would configure it."""
    variables = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "PYTHONPATH": str(REPO_ROOT),
        "MASTERY_DATABASE_URL": settings.require_database_url(),
        "MASTERY_REDIS_URL": settings.redis_url or "",
        "MASTERY_REDIS_PREFIX": settings.redis_prefix,
        "MASTERY_JWT_SECRET": settings.jwt_secret or "",
        "MASTERY_MASTER_KEY": settings.master_key or "",
        "MASTERY_DATA_DIR": str(settings.data_dir),
        **env,
    }
    if token is not None:
        variables["MASTERY_MCP_TOKEN"] = token
    return StdioServerParameters(
        command=sys.executable, args=["-m", "api.cli.main", "mcp"], env=variables, cwd=REPO_ROOT
    )


@asynccontextmanager
async def stdio_session(parameters: StdioServerParameters) -> AsyncIterator[ClientSession]:
    async with (
        stdio_client(parameters) as (read, write),
        ClientSession(read, write, read_timeout_seconds=CALL_TIMEOUT) as session,
    ):
        await session.initialize()
        yield session


async def call(session: ClientSession, tool: str, **arguments: Any) -> CallToolResult:
    result = await session.call_tool(
        tool, arguments, read_timeout_seconds=timedelta(seconds=CALL_TIMEOUT).total_seconds()
    )
    assert isinstance(result, CallToolResult)
    return result


async def answer(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """The structured answer of a call that must succeed."""
    result = await call(session, tool, **arguments)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


async def refusal(session: ClientSession, tool: str, **arguments: Any) -> str:
    """The message of a call that must fail as a tool error (the session stays usable)."""
    result = await call(session, tool, **arguments)
    assert result.is_error, result
    assert result.structured_content is None
    return text_of(result)


def text_of(result: CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


def access_rows(
    api: Api, tenant: str, expected: int, *, where: str = "action LIKE 'mcp%%'"
) -> list[dict[str, Any]]:
    """The MCP access-log rows of ``tenant``, in writing order, once ``expected`` exist."""
    url = api.container.settings.require_database_url()
    columns = ("subject", "role", "student_id", "class_id", "route", "action", "outcome")
    deadline = time.monotonic() + 30
    while True:
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                f"SELECT {', '.join(columns)}, status FROM access_log"
                f" WHERE tenant_id = %s AND {where} ORDER BY id",
                (tenant,),
            ).fetchall()
        if len(rows) >= expected or time.monotonic() > deadline:
            return [dict(zip((*columns, "status"), row, strict=True)) for row in rows]
        time.sleep(0.05)


def until(condition: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def load_cohort(api: Api, tenant: str) -> int:
    """Students s1 and s2 in class c1, s3 in c2, with quizzes on three days and a completion;
    s2 weak enough to be at risk. Returns the store position, once projected."""
    events = []
    for i, student in enumerate(("s1", "s2", "s3")):
        klass = "c1" if student != "s3" else "c2"
        for day in (5, 3, 1):
            correct = 1 if student == "s2" else 3 + i + (5 - day)
            events.append(
                event(
                    f"{student}-q{day}",
                    student,
                    tenant,
                    day=days_ago(day),
                    class_id=klass,
                    data={"total_questions": 10, "correct_answers": correct},
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
    response = api.as_("service", "agent", tenant).post("/v1/events", json={"events": events})
    assert response.status_code == 200, response.text
    position: int = response.json()["position"]
    api.container.view.wait("mastery", position, timeout=30)
    return position


def days_ago(n: int) -> datetime:
    return datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=n)


def token(api: Api, role: str, sub: str, tenant: str, **claims: Any) -> str:
    return api.tokens.mint(role, sub, tenant, **claims)
