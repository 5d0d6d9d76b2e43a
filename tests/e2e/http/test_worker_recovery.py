"""Workers keep working (SPEC §10): the projector survives Redis being killed and restarted on
the same port and catches up; ``/readyz`` says so while it cannot; the first read after the
restart answers 200. The Redis server is the test's own (tests/killable.py)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from infrastructure.bootstrap import Container, build
from infrastructure.settings import Settings
from tests.e2e.http.support import Api, Tokens, event, running_server
from tests.killable import KillableRedis, killable_redis, wait_until


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[KillableRedis]:
    with killable_redis(tmp_path) as server:
        yield server


@pytest.fixture
def running(
    api_settings: Settings, own_redis: KillableRedis, rsa_key: rsa.RSAPrivateKey
) -> Iterator[tuple[Api, threading.Thread]]:
    settings = replace(
        api_settings,
        redis_url=own_redis.url,
        redis_prefix=f"w{uuid.uuid4().hex[:8]}:",
        redis_timeout_seconds=0.5,
        worker_stall_seconds=2.0,
    )
    stop = threading.Event()
    with build(settings) as container:
        projector = threading.Thread(target=container.projector.run, args=(stop,), daemon=True)
        projector.start()
        try:
            with running_server(container) as url:
                client = Api(url, container, Tokens(private_key=rsa_key))
                yield client, projector
                client.close()
        finally:
            stop.set()
            projector.join(30)


def _ready(api: Api) -> tuple[int, dict[str, Any]]:
    response = api.client.get("/readyz")
    body: dict[str, Any] = response.json()
    return response.status_code, body


def _failures(container: Container) -> int:
    return container.projector.health.snapshot().failures


def test_the_projector_survives_a_redis_kill_and_restart_and_reads_recover(
    running: tuple[Api, threading.Thread], own_redis: KillableRedis, tenant: str
) -> None:
    api, projector = running
    writer = api.as_("service", "w", tenant)
    reader = api.as_("student", "s1", tenant)
    first = writer.post("/v1/events", json=event("k1", "s1", tenant)).json()["position"]
    params = {"min_position": first, "wait_ms": 5000}
    assert reader.get("/v1/students/s1/mastery", params=params).json()["stale"] is False
    assert reader.get("/v1/students/s1/mastery").status_code == 200  # the event loop's reader
    assert reader.get("/v1/students/s1/topics").status_code == 200

    own_redis.kill()
    written = writer.post("/v1/events", json=event("k2", "s1", tenant))
    assert written.json()["outcomes"][0]["status"] == "recorded"
    # the projector meets the dead server, backs off and tries again (more than once)
    wait_until(lambda: _failures(api.container) >= 2, 10, "the projector did not retry")
    assert projector.is_alive()
    status, body = _ready(api)
    assert status == 503
    assert body["checks"]["projector"].startswith("backing off")

    own_redis.start()
    # The first reads after the restart answer 200, on the event loop's reader and otherwise.
    assert reader.get("/v1/students/s1/mastery").status_code == 200
    assert reader.get("/v1/students/s1/topics").status_code == 200
    later = writer.post("/v1/events", json=event("k3", "s1", tenant)).json()["position"]
    params = {"min_position": later, "wait_ms": 5000}
    wait_until(
        lambda: reader.get("/v1/students/s1/mastery", params=params).json()["stale"] is False,
        20,
        "the projector did not catch up after Redis came back",
    )
    assert projector.is_alive()
    wait_until(lambda: _ready(api)[0] == 200, 10, "readiness did not recover")
    assert _ready(api)[1]["checks"]["projector"] == "ok"
    status = api.as_("admin", "ops", tenant).get("/v1/status").json()
    workers = {worker["name"]: worker for worker in status["workers"]}
    assert workers["projector"]["state"] == "running"
    assert workers["projector"]["failures"] >= 2
    assert workers["projector"]["last_error"].startswith("ConnectionError")
    assert workers["access-log"]["check"] == "ok"


def test_readiness_fails_while_the_projector_cannot_progress(
    running: tuple[Api, threading.Thread], tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, projector = running
    writer = api.as_("service", "w", tenant)
    wait_until(lambda: _ready(api)[0] == 200, 10, "not ready at start")

    view = api.container.projector.view
    original = view.apply

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the projection cannot be written")

    monkeypatch.setattr(view, "apply", broken)
    position = writer.post("/v1/events", json=event("b1", "s1", tenant)).json()["position"]
    wait_until(lambda: _ready(api)[0] == 503, 10, "readiness ignored a failing projector")
    assert "RuntimeError" in _ready(api)[1]["checks"]["projector"]

    monkeypatch.setattr(view, "apply", original)
    wait_until(lambda: _ready(api)[0] == 200, 15, "readiness did not recover")
    assert api.container.projector.position() >= position
    assert projector.is_alive()


def test_readiness_fails_while_the_projector_hangs_with_work_waiting(
    running: tuple[Api, threading.Thread], tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, projector = running
    writer = api.as_("service", "w", tenant)
    wait_until(lambda: _ready(api)[0] == 200, 10, "not ready at start")

    view = api.container.projector.view
    original = view.apply
    release = threading.Event()

    def hanging(*args: Any, **kwargs: Any) -> None:
        release.wait(30)  # a call that never returns, as on a half-open connection
        original(*args, **kwargs)

    monkeypatch.setattr(view, "apply", hanging)
    position = writer.post("/v1/events", json=event("h1", "s1", tenant)).json()["position"]
    wait_until(lambda: _ready(api)[0] == 503, 10, "readiness ignored a hanging projector")
    assert _ready(api)[1]["checks"]["projector"].startswith("stalled: no progress for")

    release.set()
    wait_until(lambda: _ready(api)[0] == 200, 10, "readiness did not recover")
    assert api.container.projector.position() >= position
    assert projector.is_alive()


@pytest.mark.slow
def test_the_projector_catches_up_after_repeated_redis_kills_during_ingest(
    running: tuple[Api, threading.Thread], own_redis: KillableRedis, tenant: str
) -> None:
    api, projector = running
    writer = api.as_("service", "w", tenant)
    students = [f"s{index}" for index in range(5)]
    last = 0
    for cycle in range(5):
        for index in range(40):
            if index == 20:
                failures = _failures(api.container)
                own_redis.kill()
            body = event(f"c{cycle}-{index}", students[index % 5], tenant)
            written = writer.post("/v1/events", json=body).json()
            assert written["outcomes"][0]["status"] == "recorded"
            last = max(last, written["position"])
        wait_until(lambda: _failures(api.container) > failures, 10, "no failure seen")  # noqa: B023
        own_redis.start()
    admin = api.as_("admin", "ops", tenant)
    params = {"min_position": last, "wait_ms": 5000}
    for student in students:
        read = admin.get(f"/v1/students/{student}/mastery", params=params)
        assert read.status_code == 200
        assert read.json()["stale"] is False
    assert projector.is_alive()
    wait_until(lambda: _ready(api)[0] == 200, 10, "readiness did not recover")
