"""The MCP guard's pure parts: a stdio principal is the token verified at each call, and a
refusal reads as what it is."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest

from api.http.problems import ProblemError
from api.mcp.calls import message_of, token_principal
from api.mcp.server import mastery_server
from infrastructure.auth.policy import Role
from infrastructure.auth.tokens import TokenVerifier, mint_token

SECRET = "unit-secret-0123456789-0123456789-abcdef"


def services() -> Any:
    return SimpleNamespace(verifier=TokenVerifier({"HS256": SECRET}, leeway_seconds=0))


def token(issued: datetime) -> str:
    return mint_token(
        role=Role.STUDENT,
        subject="s1",
        tenant_id="acme",
        key=SECRET,
        ttl=timedelta(minutes=10),
        now=issued,
    )


def test_a_valid_token_is_the_principal_of_every_call() -> None:
    principal_of = token_principal(token(datetime.now(UTC)))
    principal = principal_of(cast(Any, None), services())
    assert (principal.subject, principal.role, principal.tenant_id) == ("s1", Role.STUDENT, "acme")


def test_an_expired_token_is_refused_at_the_call_as_unauthenticated() -> None:
    principal_of = token_principal(token(datetime.now(UTC) - timedelta(hours=1)))
    with pytest.raises(ProblemError) as refused:
        principal_of(cast(Any, None), services())
    assert refused.value.status == 401
    assert message_of(refused.value) == "unauthorized: token expired"


def test_a_refusal_names_its_kind_and_its_field_errors() -> None:
    problem = ProblemError(
        422, "the request is invalid", errors=[{"loc": "arguments.days", "msg": "too big"}]
    )
    assert message_of(problem) == "invalid input: the request is invalid (arguments.days: too big)"
    assert message_of(ProblemError(403, "no")) == "forbidden: no"


def test_building_the_server_leaves_the_root_logger_as_it_was() -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    root.handlers[:] = []
    root.setLevel(logging.INFO)
    try:
        mastery_server(cast(Any, None), token_principal("unused"))
        assert (root.handlers, root.level) == ([], logging.INFO)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
