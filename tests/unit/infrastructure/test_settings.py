"""Settings from ``MASTERY_*`` variables as an operator meets them (SPEC §9): defaults when
unset or blank, each kind of value parsed, and a message naming the variable and what is wrong
with it (its minimum, its form) when it is malformed."""

from __future__ import annotations

import base64
import pickle
import re
from pathlib import Path

import pytest

from infrastructure.settings import ConfigurationError, Settings

KEY = base64.b64encode(bytes(range(32))).decode()
OTHER_KEY = base64.b64encode(bytes(32)).decode()
README = Path(__file__).parents[3] / "README.md"

MINIMUMS = {
    "KAFKA_PARTITIONS": 1,
    "KAFKA_REPLICATION_FACTOR": 1,
    "KAFKA_SESSION_TIMEOUT_MS": 1000,
    "KAFKA_MAX_ATTEMPTS": 1,
    "KAFKA_CONSUMER_WORKERS": 1,
    "PUBLISH_BATCH_SIZE": 1,
    "SNAPSHOT_TTL_DAYS": 0,
    "RETENTION_DAYS": 0,
    "INGEST_BATCH_SIZE": 1,
    "BACKFILL_WORKERS": 1,
    "SNAPSHOT_INTERVAL": 2,
    "AGGREGATE_CACHE_SIZE": 0,
    "DB_POOL_SIZE": 1,
    "PROJECTION_BATCH_SIZE": 1,
    "PROJECTION_WORKERS": 1,
    "REDIS_TIMEOUT_MS": 1,
    "WORKER_STALL_SECONDS": 1,
    "HEARTBEAT_MAX_AGE_SECONDS": 1,
    "JWT_LEEWAY_SECONDS": 0,
    "HTTP_PORT": 1,
    "HTTP_THREADS": 1,
    "HTTP_WORKERS": 1,
}


def from_env(**variables: str) -> Settings:
    return Settings.from_env({f"MASTERY_{name}": value for name, value in variables.items()})


def test_nothing_set_gives_the_documented_defaults() -> None:
    settings = from_env()
    assert settings == Settings()
    assert settings.database_url is None
    assert settings.kafka_requests_topic == "mastery.requests"
    assert settings.kafka_session_timeout_ms == 10_000
    assert settings.data_dir == Path(".mastery")
    assert settings.redis_prefix == ""
    assert settings.redis_timeout_seconds == 2.0
    assert settings.worker_stall_seconds == 30.0
    assert settings.previous_master_keys == ()
    assert settings.http_host == "127.0.0.1"
    assert settings.log_level == "INFO"


def test_blank_variables_count_as_unset() -> None:
    blank = {f"MASTERY_{name}": "  " for name in [*MINIMUMS, "DATABASE_URL", "DATA_DIR"]}
    assert Settings.from_env(blank) == Settings()


def test_other_variables_are_ignored() -> None:
    assert Settings.from_env({"MASTERY_NO_SUCH_SETTING": "x", "HTTP_PORT": "x"}) == Settings()


def test_keyword_construction_keeps_every_other_default(tmp_path: Path) -> None:
    settings = Settings(database_url="postgresql://db/x", data_dir=tmp_path)
    assert settings == Settings.from_env(
        {"MASTERY_DATABASE_URL": "postgresql://db/x", "MASTERY_DATA_DIR": str(tmp_path)}
    )


def test_each_kind_of_value_is_parsed() -> None:
    settings = from_env(
        DATABASE_URL=" postgresql://u:p@db:6543/mastery ",
        KAFKA_GROUP_ID=" group ",
        KAFKA_PARTITIONS=" 12 ",
        DATA_DIR="/var/lib/mastery",
        REDIS_PREFIX=" gen2: ",
        REDIS_TIMEOUT_MS="250",
        WORKER_STALL_SECONDS="5",
        MASTER_KEY=f" {KEY} ",
        PREVIOUS_MASTER_KEYS=f" {OTHER_KEY} ,, {KEY},",
        LOG_LEVEL="debug",
    )
    assert settings.database_url == "postgresql://u:p@db:6543/mastery"
    assert settings.kafka_group_id == "group"
    assert settings.kafka_partitions == 12
    assert settings.data_dir == Path("/var/lib/mastery")
    assert settings.redis_prefix == " gen2: "  # taken verbatim
    assert settings.redis_timeout_seconds == 0.25
    assert settings.worker_stall_seconds == 5.0
    assert isinstance(settings.worker_stall_seconds, float)
    assert settings.master_key == KEY
    assert settings.previous_master_keys == (OTHER_KEY, KEY)
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(("name", "minimum"), MINIMUMS.items())
def test_a_number_below_its_minimum_names_the_variable_and_the_minimum(
    name: str, minimum: int
) -> None:
    assert from_env(**{name: str(minimum)}) is not None
    with pytest.raises(ConfigurationError) as raised:
        from_env(**{name: str(minimum - 1)})
    assert str(raised.value) == f"MASTERY_{name} must be >= {minimum}, got {minimum - 1}"


@pytest.mark.parametrize("value", ["x", "1.5", "2k", "1e3"])
def test_a_number_that_is_not_an_integer_is_refused(value: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        from_env(HTTP_PORT=f" {value} ")
    assert str(raised.value) == f"MASTERY_HTTP_PORT must be an integer, got {value!r}"


@pytest.mark.parametrize(
    ("value", "cluster"),
    [
        *[("true", True), (" TRUE ", True), ("1", True), ("yes", True), ("on", True)],
        *[("false", False), ("0", False), ("No", False), ("off", False), ("", False)],
    ],
)
def test_the_redis_cluster_switch_reads_true_and_false(value: str, cluster: bool) -> None:
    assert from_env(REDIS_CLUSTER=value).redis_cluster is cluster


def test_a_redis_cluster_switch_that_is_not_a_boolean_names_the_variable() -> None:
    with pytest.raises(ConfigurationError) as raised:
        from_env(REDIS_CLUSTER="cluster")
    assert str(raised.value) == "MASTERY_REDIS_CLUSTER must be true or false, got 'cluster'"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://db/x", "MASTERY_DATABASE_URL must be a postgresql:// URL, got scheme 'mysql'"),
        ("postgresql://db:port/x", "MASTERY_DATABASE_URL has an invalid port"),
    ],
)
def test_a_malformed_database_url_is_refused(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        from_env(DATABASE_URL=url)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("not base64!", "must be base64 of 32 bytes"),
        (base64.b64encode(bytes(16)).decode(), "must encode 32 bytes, not 16"),
    ],
)
@pytest.mark.parametrize("name", ["MASTER_KEY", "PREVIOUS_MASTER_KEYS"])
def test_a_malformed_master_key_is_refused(name: str, key: str, problem: str) -> None:
    value = f"{KEY},{key}" if name == "PREVIOUS_MASTER_KEYS" else key
    with pytest.raises(ConfigurationError) as raised:
        from_env(**{name: value})
    assert str(raised.value) == f"MASTERY_{name} {problem}"


def test_a_malformed_number_is_reported_before_a_malformed_url_or_key() -> None:
    with pytest.raises(ConfigurationError, match="MASTERY_HTTP_WORKERS"):
        from_env(DATABASE_URL="mysql://db", MASTER_KEY="x", HTTP_WORKERS="0")
    with pytest.raises(ConfigurationError, match="MASTERY_DATABASE_URL"):
        from_env(DATABASE_URL="mysql://db", MASTER_KEY="x")
    with pytest.raises(ConfigurationError, match="MASTERY_MASTER_KEY"):
        from_env(MASTER_KEY="x", PREVIOUS_MASTER_KEYS="y")


def test_settings_survive_the_trip_to_a_worker_process() -> None:
    """``mastery serve --workers`` hands its resolved settings to uvicorn's spawned workers
    by pickling, not through the environment."""
    settings = from_env(
        DATABASE_URL="postgresql://u:p@db/x",
        DATA_DIR="/data",
        REDIS_TIMEOUT_MS="250",
        MASTER_KEY=KEY,
        PREVIOUS_MASTER_KEYS=OTHER_KEY,
        HTTP_WORKERS="4",
    )
    assert pickle.loads(pickle.dumps(settings)) == settings


def test_the_readme_table_states_each_default_and_minimum() -> None:
    rows = dict(re.findall(r"^\| `MASTERY_([A-Z_]+)` \| ([^|]+) \|", README.read_text(), re.M))
    defaults = Settings()
    for name, minimum in MINIMUMS.items():
        assert f"(min {minimum})" in rows[name] or minimum == 0, name
    assert rows["HTTP_PORT"].startswith(f"`{defaults.http_port}`")
    assert rows["REDIS_TIMEOUT_MS"].startswith(f"`{int(defaults.redis_timeout_seconds * 1000)}`")
    assert rows["KAFKA_GROUP_ID"].startswith(f"`{defaults.kafka_group_id}`")


def test_the_settings_repr_leaves_out_passwords_keys_and_tokens() -> None:
    settings = Settings.from_env(
        {
            "MASTERY_DATABASE_URL": "postgresql://app:pg-password@db:5432/mastery",
            "MASTERY_REDIS_URL": "redis://:redis-password@cache:6379/0",
            "MASTERY_JWT_SECRET": "jwt-secret-value",
            "MASTERY_MASTER_KEY": KEY,
            "MASTERY_PREVIOUS_MASTER_KEYS": OTHER_KEY,
            "MASTERY_MCP_TOKEN": "mcp-token-value",
            "MASTERY_KAFKA_CONFIG": '{"sasl.password": "kafka-password"}',
        }
    )
    shown = repr(settings)
    for secret in (
        "pg-password",
        "redis-password",
        "jwt-secret-value",
        KEY,
        OTHER_KEY,
        "mcp-token-value",
        "kafka-password",
    ):
        assert secret not in shown
    assert "http_port=8000" in shown  # the rest is still there to read
