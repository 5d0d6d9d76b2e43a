"""Bad input on the query API gets a 4xx problem with reasons, never a 5xx (SPEC §7, §10):
validly signed tokens whose claims have the wrong type, and query parameters at the edges of
the calendar and of their ranges."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from tests.e2e.http.support import SECRET, Api, event

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def signed(payload: str) -> str:
    """A token carrying ``payload`` verbatim (any JSON, even what json.dumps would not write),
    validly signed with the test secret."""
    header = jwt.utils.base64url_encode(b'{"alg":"HS256","typ":"JWT"}')
    signing_input = header + b"." + jwt.utils.base64url_encode(payload.encode())
    signature = hmac.new(SECRET.encode(), signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + jwt.utils.base64url_encode(signature)).decode()


@pytest.fixture
def student(api: Api, tenant: str) -> str:
    """One student with activity yesterday, projected."""
    yesterday = datetime.now(UTC) - timedelta(days=1)
    service = api.as_("service", "agent", tenant)
    response = service.post(
        "/v1/events", json={"events": [event("e1", "s1", tenant, day=yesterday)]}
    )
    assert response.status_code == 200, response.text
    api.container.view.wait("mastery", response.json()["position"], timeout=10)
    return "s1"


WRONG_TYPES: list[object] = [["admin"], {"role": "admin"}, 1, 1.5, None, True, ""]


def bad_claims(tenant: str) -> dict[str, str]:
    """Claims of a valid admin token with one claim of a wrong type, by name."""
    exp = int(time.time()) + 600
    claims = {"sub": "root", "role": "admin", "tenant": tenant, "exp": exp}
    cases = {}
    for name in ("role", "sub", "tenant"):
        for value in WRONG_TYPES:
            cases[f"{name}={value!r}"] = json.dumps({**claims, name: value})
    for name in ("students", "classes"):
        for value in ("s1", [1], [None], [["s1"]], [{"id": "s1"}], {"s1": True}, 1, True):
            cases[f"{name}={value!r}"] = json.dumps({**claims, name: value})
    for value in ("x", str(exp), [exp], {"at": exp}, None, True):
        cases[f"exp={value!r}"] = json.dumps({**claims, "exp": value})
    plain = json.dumps(claims)
    for literal in ("1" + "0" * 400, "1e400", "Infinity", "NaN", "-1e400"):
        cases[f"exp={literal[:12]}"] = plain.replace(str(exp), literal)
    for name in ("iat", "nbf"):
        for value in ("x", str(exp - 700), [1], {"at": 1}):
            cases[f"{name}={value!r}"] = json.dumps({**claims, name: value})
    return cases


def test_a_signed_token_with_a_claim_of_the_wrong_type_is_401(
    api: Api, tenant: str, student: str
) -> None:
    for case, payload in bad_claims(tenant).items():
        response = api.client.get(
            f"/v1/students/{student}/mastery",
            headers={"Authorization": f"Bearer {signed(payload)}"},
        )
        assert response.status_code == 401, (case, response.status_code, response.text)
        assert response.headers["content-type"] == PROBLEM, case
        assert response.headers["www-authenticate"].startswith("Bearer"), case


def test_the_claim_at_fault_is_named(api: Api, tenant: str, student: str) -> None:
    exp = int(time.time()) + 600
    claims = {"sub": "root", "role": "admin", "tenant": tenant, "exp": exp}
    for name, value in (
        ("role", ["admin"]),
        ("role", {"admin": True}),
        ("exp", str(exp)),
        ("students", "s1"),
    ):
        token = signed(json.dumps({**claims, name: value}))
        response = api.client.get(
            f"/v1/students/{student}/mastery", headers={"Authorization": f"Bearer {token}"}
        )
        assert f"claim {name}" in assert_problem(response, 401)["detail"], (name, value)


EXTREMES = ("0001-01-01", "0001-01-02", "1000-06-15", "9999-12-30", "9999-12-31")


def test_dates_at_the_edges_of_the_calendar_never_give_5xx(
    api: Api, tenant: str, student: str
) -> None:
    admin = api.as_("admin", "root", tenant)
    base = f"/v1/students/{student}"
    requests: list[tuple[str, dict[str, str]]] = []
    for day in EXTREMES:
        requests += [
            (f"{base}/mastery", {"as_of": day}),
            (f"{base}/mastery", {"as_of": day, "min_position": "0", "wait_ms": "0"}),
            (f"{base}/prediction", {"as_of": day}),
            (f"{base}/prediction", {"as_of": day, "days": "90"}),
            (f"{base}/mastery/history", {"from": day}),
            (f"{base}/mastery/history", {"to": day}),
            (f"{base}/mastery/history", {"from": day, "to": day}),
        ]
    for path, params in requests:
        response = admin.get(path, params=params)
        assert response.status_code in (200, 422), (path, params, response.text)
        if response.status_code == 422:
            body = assert_problem(response, 422)
            assert body["errors"] and all(e["loc"].startswith("query") for e in body["errors"])


def test_history_to_the_first_day_of_the_calendar_is_an_answer_or_a_field_error(
    api: Api, tenant: str, student: str
) -> None:
    admin = api.as_("admin", "root", tenant)
    response = admin.get(f"/v1/students/{student}/mastery/history", params={"to": "0001-01-01"})
    if response.status_code == 200:
        assert response.json()["snapshots"] == []
    else:
        assert_problem(response, 422)


def test_the_history_range_limit_applies_whatever_bounds_are_given(
    api: Api, tenant: str, student: str
) -> None:
    admin = api.as_("admin", "root", tenant)
    path = f"/v1/students/{student}/mastery/history"
    today = datetime.now(UTC).date()
    too_far = (today - timedelta(days=3661)).isoformat()
    for params in (
        {"from": too_far},
        {"from": "0001-01-01"},
        {"from": "2000-01-01", "to": "2020-01-01"},
        {"to": "9999-12-31", "from": "2000-01-01"},
    ):
        body = assert_problem(admin.get(path, params=params), 422)
        assert any("3660 days" in e["msg"] for e in body["errors"]), (params, body)
    within = (today - timedelta(days=3660)).isoformat()
    assert admin.get(path, params={"from": within}).status_code == 200
    assert admin.get(path, params={"to": today.isoformat()}).status_code == 200


NUMBERS = ("-1", "1" + "0" * 30, "1e3", "0x10", "1.5", " 1", "", "NaN", "١٢")


def test_numeric_query_parameters_out_of_range_are_field_errors(
    api: Api, tenant: str, student: str
) -> None:
    admin = api.as_("admin", "root", tenant)
    base = f"/v1/students/{student}"
    for path, name in (
        (f"{base}/mastery", "min_position"),
        (f"{base}/mastery", "wait_ms"),
        (f"{base}/prediction", "days"),
        (f"{base}/events", "after"),
        (f"{base}/events", "limit"),
    ):
        for value in NUMBERS:
            response = admin.get(path, params={name: value})
            assert response.status_code in (200, 422), (path, name, value, response.text)
            if response.status_code == 422:
                body = assert_problem(response, 422)
                assert body["errors"][0]["loc"] == f"query.{name}", (name, value, body)
