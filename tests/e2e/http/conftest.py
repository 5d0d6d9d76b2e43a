"""Fixtures of the HTTP end-to-end tests: Redis (configured or embedded), a database and a real
uvicorn server per module, with a projector following the event store; a tenant per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from infrastructure.bootstrap import build
from infrastructure.event_store.keys import MasterKey
from infrastructure.migrate import upgrade
from infrastructure.settings import Settings, database_parts
from tests.e2e.http.support import SECRET, Api, Tokens, running_projector, running_server


@pytest.fixture(scope="session")
def redis_url(redis_server_url: str) -> str:
    """The session's Redis (tests/conftest.py): configured, or one embedded server for all."""
    return redis_server_url


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def public_pem(rsa_key: rsa.RSAPrivateKey) -> str:
    return (
        rsa_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def module_database_url(server_database_url: str) -> Iterator[str]:
    """A migrated database shared by one test module (tests isolate by tenant)."""
    parts = database_parts(server_database_url)
    password = f":{parts.password}" if parts.password else ""
    base = f"postgresql://{parts.user}{password}@{parts.host}:{parts.port}"
    name = f"mastery_http_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    upgrade(f"{base}/{name}")
    yield f"{base}/{name}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def api_settings(
    module_database_url: str,
    redis_url: str,
    redis_cluster: bool,
    public_pem: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    return Settings(
        database_url=module_database_url,
        redis_url=redis_url,
        redis_cluster=redis_cluster,
        redis_prefix=f"test-{uuid.uuid4().hex[:8]}:",
        data_dir=Path(tmp_path_factory.mktemp("data")),
        jwt_secret=SECRET,
        jwt_public_key=public_pem,
        master_key=MASTER_KEY,
    )


MASTER_KEY = MasterKey.generate()


@pytest.fixture(scope="module")
def api(api_settings: Settings, rsa_key: rsa.RSAPrivateKey) -> Iterator[Api]:
    with (
        build(api_settings) as container,
        running_projector(container),
        running_server(container) as base_url,
    ):
        client = Api(base_url, container, Tokens(private_key=rsa_key))
        yield client
        client.close()
        container.view.drop_all()


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"
