"""Configuration from ``MASTERY_*`` environment variables (SPEC §9).

Settings are read once, at the edge (CLI, ASGI lifespan, worker), and passed inwards; nothing
below reads the environment itself.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

PREFIX = "MASTERY_"


class ConfigurationError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True, slots=True)
class DatabaseParts:
    host: str
    port: int
    user: str
    password: str
    dbname: str


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None = None
    redis_url: str | None = None
    kafka_bootstrap_servers: str | None = None
    kafka_requests_topic: str = "mastery.requests"
    kafka_results_topic: str = "mastery.results"
    kafka_dlq_topic: str = "mastery.dlq"
    kafka_group_id: str = "mastery-ingest"
    kafka_partitions: int = 6
    kafka_replication_factor: int = 1
    kafka_session_timeout_ms: int = 10_000
    kafka_max_attempts: int = 3
    kafka_consumer_workers: int = 2
    publish_batch_size: int = 2000
    data_dir: Path = Path(".mastery")
    redis_prefix: str = ""
    snapshot_ttl_days: int = 90
    retention_days: int = 90
    ingest_batch_size: int = 2000
    backfill_workers: int = 2
    snapshot_interval: int = 200
    aggregate_cache_size: int = 20_000
    db_pool_size: int = 4
    projection_batch_size: int = 10_000
    projection_workers: int = 2
    redis_timeout_seconds: float = 2.0
    worker_stall_seconds: float = 30.0
    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    master_key: str | None = None
    previous_master_keys: tuple[str, ...] = ()
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_seconds: int = 30
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    http_threads: int = 40
    http_workers: int = 2
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def text(name: str) -> str | None:
            value = env.get(PREFIX + name, "").strip()
            return value or None

        def integer(name: str, default: int, minimum: int = 0) -> int:
            raw = text(name)
            if raw is None:
                return default
            try:
                value = int(raw)
            except ValueError:
                raise ConfigurationError(
                    f"{PREFIX}{name} must be an integer, got {raw!r}"
                ) from None
            if value < minimum:
                raise ConfigurationError(f"{PREFIX}{name} must be >= {minimum}, got {value}")
            return value

        settings = cls(
            database_url=text("DATABASE_URL"),
            redis_url=text("REDIS_URL"),
            kafka_bootstrap_servers=text("KAFKA_BOOTSTRAP_SERVERS"),
            kafka_requests_topic=text("KAFKA_REQUESTS_TOPIC") or "mastery.requests",
            kafka_results_topic=text("KAFKA_RESULTS_TOPIC") or "mastery.results",
            kafka_dlq_topic=text("KAFKA_DLQ_TOPIC") or "mastery.dlq",
            kafka_group_id=text("KAFKA_GROUP_ID") or "mastery-ingest",
            kafka_partitions=integer("KAFKA_PARTITIONS", 6, minimum=1),
            kafka_replication_factor=integer("KAFKA_REPLICATION_FACTOR", 1, minimum=1),
            kafka_session_timeout_ms=integer("KAFKA_SESSION_TIMEOUT_MS", 10_000, minimum=1000),
            kafka_max_attempts=integer("KAFKA_MAX_ATTEMPTS", 3, minimum=1),
            kafka_consumer_workers=integer("KAFKA_CONSUMER_WORKERS", 2, minimum=1),
            publish_batch_size=integer("PUBLISH_BATCH_SIZE", 2000, minimum=1),
            data_dir=Path(text("DATA_DIR") or ".mastery"),
            redis_prefix=env.get(PREFIX + "REDIS_PREFIX", ""),
            snapshot_ttl_days=integer("SNAPSHOT_TTL_DAYS", 90),
            retention_days=integer("RETENTION_DAYS", 90),
            ingest_batch_size=integer("INGEST_BATCH_SIZE", 2000, minimum=1),
            backfill_workers=integer("BACKFILL_WORKERS", 2, minimum=1),
            snapshot_interval=integer("SNAPSHOT_INTERVAL", 200, minimum=2),
            aggregate_cache_size=integer("AGGREGATE_CACHE_SIZE", 20_000),
            db_pool_size=integer("DB_POOL_SIZE", 4, minimum=1),
            projection_batch_size=integer("PROJECTION_BATCH_SIZE", 10_000, minimum=1),
            projection_workers=integer("PROJECTION_WORKERS", 2, minimum=1),
            redis_timeout_seconds=float(integer("REDIS_TIMEOUT_MS", 2000, minimum=1)) / 1000,
            worker_stall_seconds=float(integer("WORKER_STALL_SECONDS", 30, minimum=1)),
            jwt_secret=text("JWT_SECRET"),
            jwt_public_key=text("JWT_PUBLIC_KEY"),
            master_key=text("MASTER_KEY"),
            previous_master_keys=tuple(
                key.strip()
                for key in (text("PREVIOUS_MASTER_KEYS") or "").split(",")
                if key.strip()
            ),
            jwt_issuer=text("JWT_ISSUER"),
            jwt_audience=text("JWT_AUDIENCE"),
            jwt_leeway_seconds=integer("JWT_LEEWAY_SECONDS", 30),
            http_host=text("HTTP_HOST") or "127.0.0.1",
            http_port=integer("HTTP_PORT", 8000, minimum=1),
            http_threads=integer("HTTP_THREADS", 40, minimum=1),
            http_workers=integer("HTTP_WORKERS", 2, minimum=1),
            log_level=(text("LOG_LEVEL") or "INFO").upper(),
        )
        if settings.database_url is not None:
            database_parts(settings.database_url)  # fail fast on a malformed URL
        for name, key in (
            ("MASTER_KEY", settings.master_key),
            *(("PREVIOUS_MASTER_KEYS", k) for k in settings.previous_master_keys),
        ):
            if key is not None:
                _check_master_key(name, key)
        return settings

    def with_urls(
        self,
        database_url: str | None,
        redis_url: str | None,
        kafka_bootstrap_servers: str | None,
    ) -> Settings:
        return replace(
            self,
            database_url=self.database_url or database_url,
            redis_url=self.redis_url or redis_url,
            kafka_bootstrap_servers=self.kafka_bootstrap_servers or kafka_bootstrap_servers,
        )

    def require_database_url(self) -> str:
        if self.database_url is None:
            raise ConfigurationError(f"{PREFIX}DATABASE_URL is not set")
        return self.database_url


def _check_master_key(name: str, value: str) -> None:
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"{PREFIX}{name} must be base64 of 32 bytes") from None
    if len(decoded) != 32:
        raise ConfigurationError(f"{PREFIX}{name} must encode 32 bytes, not {len(decoded)}")


def database_parts(url: str) -> DatabaseParts:
    """Split a plain ``postgresql://user:password@host:port/dbname`` URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigurationError(
            f"{PREFIX}DATABASE_URL must be a postgresql:// URL, got scheme {parts.scheme!r}"
        )
    dbname = unquote(parts.path.lstrip("/")) or "postgres"
    try:
        port = parts.port or 5432
    except ValueError:
        raise ConfigurationError(f"{PREFIX}DATABASE_URL has an invalid port") from None
    return DatabaseParts(
        host=parts.hostname or "127.0.0.1",
        port=port,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        dbname=dbname,
    )


def sqlalchemy_url(url: str) -> str:
    """The same database for SQLAlchemy, driven by psycopg 3."""
    _, _, rest = url.partition("://")
    return "postgresql+psycopg://" + rest


def redacted(url: str | None) -> str:
    """A URL fit for logs: the password replaced by ``***``."""
    if not url:
        return "-"
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
