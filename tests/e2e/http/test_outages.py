"""Reads when a store is down: Redis down answers 503 quickly and recovers by itself;
PostgreSQL down leaves reads from Redis working and loses no access-log entry."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlsplit

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from infrastructure.bootstrap import build
from infrastructure.runtime.supervision import WorkerState
from infrastructure.settings import Settings, database_parts
from tests.e2e.http.support import (
    Api,
    CuttableProxy,
    Tokens,
    event,
    running_projector,
    running_server,
)
from tests.killable import wait_until


@pytest.fixture(scope="module")
def proxies(api_settings: Settings) -> Iterator[tuple[CuttableProxy, CuttableProxy]]:
    parts = database_parts(api_settings.require_database_url())
    redis = urlsplit(api_settings.redis_url)
    postgres_proxy = CuttableProxy(parts.host, parts.port)
    redis_proxy = CuttableProxy(redis.hostname or "127.0.0.1", redis.port or 6379)
    yield postgres_proxy, redis_proxy
    postgres_proxy.close()
    redis_proxy.close()


@pytest.fixture(scope="module")
def outage_api(
    api_settings: Settings, proxies: tuple[CuttableProxy, CuttableProxy], rsa_key: rsa.RSAPrivateKey
) -> Iterator[Api]:
    postgres_proxy, redis_proxy = proxies
    parts = database_parts(api_settings.require_database_url())
    redis = urlsplit(api_settings.redis_url)
    settings = replace(
        api_settings,
        database_url=f"postgresql://{parts.user}@127.0.0.1:{postgres_proxy.port}/{parts.dbname}",
        redis_url=f"redis://127.0.0.1:{redis_proxy.port}{redis.path or '/0'}",
        redis_timeout_seconds=0.5,
    )
    with (
        build(settings) as container,
        running_projector(container),
        running_server(container) as url,
    ):
        client = Api(url, container, Tokens(private_key=rsa_key))
        yield client
        client.close()


def test_redis_down_answers_503_quickly_and_recovers(
    outage_api: Api, proxies: tuple[CuttableProxy, CuttableProxy], tenant: str
) -> None:
    _, redis_proxy = proxies
    written = outage_api.as_("service", "a", tenant).post(
        "/v1/events", json=event("r1", "s1", tenant)
    )
    reader = outage_api.as_("student", "s1", tenant)
    params = {"min_position": written.json()["position"], "wait_ms": 5000}
    assert reader.get("/v1/students/s1/mastery", params=params).status_code == 200

    redis_proxy.cut()
    try:
        started = time.monotonic()
        response = reader.get("/v1/students/s1/mastery")
        elapsed = time.monotonic() - started
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert elapsed < 2.0
        assert outage_api.client.get("/readyz").status_code == 503
    finally:
        redis_proxy.restore()
    deadline = time.monotonic() + 10
    while reader.get("/v1/students/s1/mastery").status_code != 200:
        assert time.monotonic() < deadline, "reads did not recover"
        time.sleep(0.1)


def test_postgres_down_reads_from_redis_keep_working_and_the_access_log_catches_up(
    outage_api: Api,
    proxies: tuple[CuttableProxy, CuttableProxy],
    tenant: str,
    api_settings: Settings,
) -> None:
    postgres_proxy, _ = proxies
    written = outage_api.as_("service", "a", tenant).post(
        "/v1/events", json=event("p1", "s1", tenant)
    )
    reader = outage_api.as_("student", "s1", tenant)
    params = {"min_position": written.json()["position"], "wait_ms": 5000}
    assert reader.get("/v1/students/s1/mastery", params=params).json()["stale"] is False

    postgres_proxy.cut()
    try:
        for _ in range(5):
            assert reader.get("/v1/students/s1/mastery").status_code == 200
    finally:
        postgres_proxy.restore()

    deadline = time.monotonic() + 20
    while True:
        with psycopg.connect(api_settings.require_database_url()) as conn:
            row = conn.execute(
                "SELECT count(*) FROM access_log WHERE tenant_id = %s", (tenant,)
            ).fetchone()
        assert row is not None
        if row[0] == 6 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert row[0] == 6


def test_the_first_event_store_read_after_postgres_returns_answers(  # a check: pre-ping
    outage_api: Api, proxies: tuple[CuttableProxy, CuttableProxy], tenant: str
) -> None:
    postgres_proxy, _ = proxies
    written = outage_api.as_("service", "a", tenant).post(
        "/v1/events", json=event("f1", "s1", tenant)
    )
    assert written.status_code == 201
    reader = outage_api.as_("student", "s1", tenant)
    assert reader.get("/v1/students/s1/events").status_code == 200

    projector = outage_api.container.projector.health
    postgres_proxy.cut()
    try:  # an outage the workers notice, and the pool's pre-ping with them
        wait_until(
            lambda: projector.snapshot().state is WorkerState.BACKING_OFF, 20, "no one noticed"
        )
    finally:
        postgres_proxy.restore()
    response = reader.get("/v1/students/s1/events")
    assert response.status_code == 200, response.text
