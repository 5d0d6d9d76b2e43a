"""Configuration from ``MASTERY_*`` environment variables (SPEC §9).

Settings are read once, at the edge (CLI, ASGI lifespan, worker), and passed inwards; nothing
below reads the environment itself.

Each setting is declared once, as a field of ``Settings``: its type, its default, how the
variable's text is parsed (a number's minimum is part of its parser) and any check of the
parsed value. The variable is ``MASTERY_`` and the field's name in capitals unless the
declaration names another. An unset or blank variable leaves the default.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

PREFIX = "MASTERY_"
_DECLARATION = "variable"


class ConfigurationError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class _BadValueError(ValueError):
    """What is wrong with a variable's value, to follow the variable's name in the message."""


@dataclass(frozen=True, slots=True)
class DatabaseParts:
    host: str
    port: int
    user: str
    password: str
    dbname: str


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


# --- parsers and checks of a variable's (stripped, non-empty) text -----------------------------


def whole(minimum: int = 0) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise _BadValueError(f"must be an integer, got {text!r}") from None
        if value < minimum:
            raise _BadValueError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def seconds(minimum: int, per_second: int = 1) -> Callable[[str], float]:
    """A whole number of seconds, or of ``1 / per_second`` seconds, as seconds."""
    count = whole(minimum)
    return lambda text: float(count(text)) / per_second


def flag(text: str) -> bool:
    """``true``/``false`` (also ``1``/``0``, ``yes``/``no``, ``on``/``off``, any case)."""
    value = text.lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise _BadValueError(f"must be true or false, got {text!r}")


def comma_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def check_origins(values: tuple[str, ...]) -> None:
    """Each a browser origin, ``scheme://host[:port]`` with nothing after it, or ``*``."""
    for value in values:
        parts = urlsplit(value)
        plain = parts.scheme in ("http", "https") and parts.hostname and not parts.path
        if value != "*" and not (plain and not parts.query and not parts.fragment):
            raise _BadValueError(f"must list origins like https://host:port, got {value!r}")


def check_master_key(value: str) -> None:
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _BadValueError("must be base64 of 32 bytes") from None
    if len(decoded) != 32:
        raise _BadValueError(f"must encode 32 bytes, not {len(decoded)}")


def check_master_keys(values: tuple[str, ...]) -> None:
    for value in values:
        check_master_key(value)


KafkaValue = str | int | float | bool

# Properties the engine sets itself: its other settings, or what its guarantees rest on (offsets
# committed only after a batch is durable, every result on every in-sync replica).
KAFKA_OWNED_PROPERTIES = {
    "bootstrap.servers": f"set {PREFIX}KAFKA_BOOTSTRAP_SERVERS",
    "group.id": f"set {PREFIX}KAFKA_GROUP_ID",
    "session.timeout.ms": f"set {PREFIX}KAFKA_SESSION_TIMEOUT_MS",
    "enable.auto.commit": "the ingest worker commits offsets itself",
    "enable.auto.offset.store": "the ingest worker commits offsets itself",
    "auto.offset.reset": "a new group starts at the earliest offset",
    "enable.idempotence": "producing is idempotent",
    "acks": "producing waits for every in-sync replica",
    "request.required.acks": "producing waits for every in-sync replica",
}
_PROPERTY_NAME = re.compile(r"[a-z][a-z0-9_.]*")


@dataclass(frozen=True, slots=True, repr=False)
class KafkaProperties:
    """librdkafka properties given to every Kafka client (SASL, TLS, tuning). Values may be
    secrets (``sasl.password``), so the representation shows the names only."""

    items: tuple[tuple[str, KafkaValue], ...] = ()

    def as_dict(self) -> dict[str, KafkaValue]:
        return dict(self.items)

    def __repr__(self) -> str:
        return f"KafkaProperties({', '.join(f'{name}=***' for name, _ in self.items)})"


def kafka_properties(text: str) -> KafkaProperties:
    """A JSON object of librdkafka properties. No message quotes a value: it may be a secret."""
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _BadValueError(
            f"must be a JSON object of librdkafka properties ({exc.msg} at line {exc.lineno}"
            f" column {exc.colno})"
        ) from None
    if not isinstance(parsed, dict):
        raise _BadValueError("must be a JSON object of librdkafka properties")
    for name, value in parsed.items():
        if not _PROPERTY_NAME.fullmatch(name):
            raise _BadValueError(f"has {name!r}, which is not a librdkafka property name")
        if name in KAFKA_OWNED_PROPERTIES:
            raise _BadValueError(f"must not set {name!r}: {KAFKA_OWNED_PROPERTIES[name]}")
        if not isinstance(value, str | int | float | bool):
            raise _BadValueError(f"property {name!r} must be a string, number or boolean")
    return KafkaProperties(tuple(sorted(parsed.items())))


@dataclass(frozen=True, slots=True)
class Declaration:
    """How a field of ``Settings`` is read from the environment."""

    name: str | None
    parse: Callable[[str], Any]
    check: Callable[[Any], object] | None
    verbatim: bool

    def read(self, field_name: str, default: object, environ: Mapping[str, str]) -> Any:
        variable = self.variable(field_name)
        raw = environ.get(variable, "")
        text = raw if self.verbatim else raw.strip()
        if not text:
            return default
        try:
            return self.parse(text)
        except _BadValueError as exc:
            raise ConfigurationError(f"{variable} {exc}") from None

    def validate(self, field_name: str, value: object) -> None:
        if self.check is None or value is None:
            return
        try:
            self.check(value)
        except _BadValueError as exc:
            raise ConfigurationError(f"{self.variable(field_name)} {exc}") from None

    def variable(self, field_name: str) -> str:
        return PREFIX + (self.name or field_name.upper())


def setting(
    default: Any,
    parse: Callable[[str], Any] = str,
    *,
    variable: str | None = None,
    check: Callable[[Any], object] | None = None,
    verbatim: bool = False,
    secret: bool = False,
) -> Any:
    """A ``Settings`` field and its variable; ``verbatim`` keeps surrounding blanks; a
    ``secret`` is left out of the settings' repr, so logging or printing them leaks nothing."""
    declaration = Declaration(variable, parse, check, verbatim)
    return field(default=default, repr=not secret, metadata={_DECLARATION: declaration})


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None = setting(None, check=database_parts, secret=True)
    redis_url: str | None = setting(None, secret=True)
    redis_cluster: bool = setting(False, flag)  # MASTERY_REDIS_URL names any node of a cluster
    kafka_bootstrap_servers: str | None = setting(None)
    kafka_config: KafkaProperties = setting(KafkaProperties(), kafka_properties)  # noqa: RUF009
    kafka_requests_topic: str = setting("mastery.requests")
    kafka_results_topic: str = setting("mastery.results")
    kafka_dlq_topic: str = setting("mastery.dlq")
    kafka_group_id: str = setting("mastery-ingest")
    kafka_partitions: int = setting(6, whole(minimum=1))
    kafka_replication_factor: int = setting(1, whole(minimum=1))
    kafka_session_timeout_ms: int = setting(10_000, whole(minimum=1000))
    kafka_max_attempts: int = setting(3, whole(minimum=1))
    kafka_consumer_workers: int = setting(2, whole(minimum=1))
    publish_batch_size: int = setting(2000, whole(minimum=1))
    data_dir: Path = setting(Path(".mastery"), Path)  # noqa: RUF009 - setting() is a field()
    redis_prefix: str = setting("", verbatim=True)
    snapshot_ttl_days: int = setting(90, whole())
    retention_days: int = setting(90, whole())
    ingest_batch_size: int = setting(2000, whole(minimum=1))
    backfill_workers: int = setting(2, whole(minimum=1))
    snapshot_interval: int = setting(200, whole(minimum=2))
    aggregate_cache_size: int = setting(20_000, whole())
    db_pool_size: int = setting(4, whole(minimum=1))
    projection_batch_size: int = setting(10_000, whole(minimum=1))
    projection_workers: int = setting(2, whole(minimum=1))
    redis_timeout_seconds: float = setting(
        2.0, seconds(minimum=1, per_second=1000), variable="REDIS_TIMEOUT_MS"
    )
    worker_stall_seconds: float = setting(30.0, seconds(minimum=1))
    health_dir: Path = setting(Path(tempfile.gettempdir()) / "mastery-health", Path)  # noqa: RUF009
    heartbeat_max_age_seconds: float = setting(30.0, seconds(minimum=1))
    jwt_secret: str | None = setting(None, secret=True)
    jwt_public_key: str | None = setting(None)
    master_key: str | None = setting(None, check=check_master_key, secret=True)
    previous_master_keys: tuple[str, ...] = setting(
        (), comma_list, check=check_master_keys, secret=True
    )
    jwt_issuer: str | None = setting(None)
    jwt_audience: str | None = setting(None)
    jwt_leeway_seconds: int = setting(30, whole())
    http_host: str = setting("127.0.0.1")
    http_port: int = setting(8000, whole(minimum=1))
    http_threads: int = setting(40, whole(minimum=1))
    http_workers: int = setting(2, whole(minimum=1))
    cors_origins: tuple[str, ...] = setting((), comma_list, check=check_origins)
    log_level: str = setting("INFO", str.upper)
    mcp_token: str | None = setting(None, secret=True)
    # The xAPI mapping file (docs/xapi.md); None: the built-in default.
    xapi_mapping: Path | None = setting(None, Path)  # noqa: RUF009 - setting() is a field()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Every variable parsed first, then the checks of the parsed values (a malformed
        number is reported before a malformed URL or key)."""
        env = os.environ if environ is None else environ
        declared = [(each, each.metadata[_DECLARATION]) for each in fields(cls)]
        settings = cls(
            **{each.name: how.read(each.name, each.default, env) for each, how in declared}
        )
        for each, how in declared:
            how.validate(each.name, getattr(settings, each.name))
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
