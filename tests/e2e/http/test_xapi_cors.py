"""A browser page of an allowed origin may send statements (an xAPI wrapper in web content):
PUT and the version header pass the preflight, and the xAPI headers are readable."""

from __future__ import annotations

import dataclasses

import pytest

from infrastructure.settings import Settings
from tests.e2e.http.support import Api
from tests.xapi_statements import HEADERS_1, statement

ORIGIN = "https://course.example"


@pytest.fixture(scope="module")
def api_settings(api_settings: Settings) -> Settings:
    return dataclasses.replace(api_settings, cors_origins=(ORIGIN,))


def test_a_browser_of_the_allowed_origin_may_send_statements(api: Api, tenant: str) -> None:
    preflight = api.client.options(
        "/xapi/statements",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization, x-experience-api-version",
        },
    )
    sent = statement("w1", "experienced")
    response = api.as_("service", "web", tenant).put(
        "/xapi/statements",
        params={"statementId": sent["id"]},
        json=sent,
        headers={**HEADERS_1, "Origin": ORIGIN},
    )

    assert preflight.status_code == 200, preflight.text
    assert "PUT" in preflight.headers["access-control-allow-methods"]
    assert "x-experience-api-version" in preflight.headers["access-control-allow-headers"].lower()
    assert response.status_code == 204
    exposed = response.headers["access-control-expose-headers"].lower()
    assert "x-experience-api-version" in exposed and "x-mastery-outcomes" in exposed
