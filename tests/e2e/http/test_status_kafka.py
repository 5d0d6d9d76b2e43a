"""``GET /v1/status`` carries the broker's side of the pipeline (SPEC §11): null without Kafka,
the reason when the broker does not answer, and never a 5xx or a long wait for it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from infrastructure.bootstrap import build
from infrastructure.settings import Settings
from tests.e2e.http.support import Api, Tokens, running_server


def test_without_kafka_the_status_says_null(api: Api, tenant: str) -> None:
    response = api.as_("admin", "root", tenant).get("/v1/status")
    assert response.status_code == 200, response.text
    assert response.json()["kafka"] is None


@pytest.fixture(scope="module")
def unreachable_broker_api(api_settings: Settings, rsa_key: rsa.RSAPrivateKey) -> Iterator[Api]:
    """Nothing listens on port 1: every connection to the broker is refused."""
    settings = replace(api_settings, kafka_bootstrap_servers="127.0.0.1:1")
    with build(settings) as container, running_server(container) as url:
        client = Api(url, container, Tokens(private_key=rsa_key))
        yield client
        client.close()


def test_a_broker_that_does_not_answer_is_reported_within_seconds(
    unreachable_broker_api: Api, tenant: str
) -> None:
    admin = unreachable_broker_api.as_("admin", "root", tenant)
    started = time.monotonic()
    response = admin.get("/v1/status")
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert elapsed < 5, f"the status waited {elapsed:.1f}s for the broker"
    kafka = response.json()["kafka"]
    assert set(kafka) == {"error"}
    assert kafka["error"].startswith("the broker did not answer")
    assert response.json()["projections"][0]["name"] == "mastery"
