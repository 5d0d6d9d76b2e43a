"""``MASTERY_KAFKA_CONFIG``: librdkafka properties (SASL, TLS, tuning) passed through to every
Kafka client, as an operator of a secured cluster meets it: parsed from a JSON object, refused
with a message naming the variable (never quoting a value: it may be a password), unable to
weaken what the engine's guarantees rest on, and never shown in a representation or a log."""

from __future__ import annotations

import json
import logging
import pickle

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from infrastructure.kafka.backlog import _probe_config
from infrastructure.kafka.config import admin_config, consumer_config, producer_config
from infrastructure.settings import (
    KAFKA_OWNED_PROPERTIES,
    ConfigurationError,
    KafkaProperties,
    Settings,
)

SECRET = "s3cr3t-Pa55word"
SASL = {
    "security.protocol": "SASL_SSL",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.username": "mastery",
    "sasl.password": SECRET,
    "ssl.ca.location": "/etc/mastery/kafka/ca.crt",
}


def settings_with(config: str) -> Settings:
    return Settings.from_env(
        {"MASTERY_KAFKA_BOOTSTRAP_SERVERS": "kafka-0:9093", "MASTERY_KAFKA_CONFIG": config}
    )


def test_unset_adds_nothing_to_any_client() -> None:
    settings = settings_with("")
    assert settings.kafka_config == KafkaProperties()
    assert admin_config(settings) == {"bootstrap.servers": "kafka-0:9093"}
    assert "security.protocol" not in consumer_config(settings)


@pytest.mark.parametrize("client", [admin_config, consumer_config, producer_config])
def test_sasl_and_tls_properties_reach_every_client(client: object) -> None:
    config = client(settings_with(json.dumps(SASL)))  # type: ignore[operator]
    assert {name: config[name] for name in SASL} == SASL
    assert config["bootstrap.servers"] == "kafka-0:9093"


def test_they_reach_the_backlog_probe_without_loosening_its_deadline() -> None:
    settings = settings_with(json.dumps({**SASL, "socket.timeout.ms": 60_000}))
    probe = _probe_config(settings, timeout=2.0)
    assert probe["sasl.password"] == SECRET
    assert probe["socket.timeout.ms"] == 2000


def test_the_engine_keeps_its_guarantees_and_yields_its_tuning() -> None:
    settings = settings_with(json.dumps({"linger.ms": 50, "fetch.min.bytes": 1024}))
    consumer, producer = consumer_config(settings), producer_config(settings)
    assert producer["linger.ms"] == 50
    assert consumer["fetch.min.bytes"] == 1024
    assert producer["acks"] == "all"
    assert producer["enable.idempotence"] is True
    assert consumer["enable.auto.commit"] is False


@pytest.mark.parametrize("name", sorted(KAFKA_OWNED_PROPERTIES))
def test_a_property_the_engine_owns_is_refused(name: str) -> None:
    with pytest.raises(ConfigurationError, match=f"MASTERY_KAFKA_CONFIG must not set '{name}'"):
        settings_with(json.dumps({name: "x"}))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"sasl.password": ', "must be a JSON object of librdkafka properties"),
        ('["security.protocol", "SSL"]', "must be a JSON object"),
        ('"SASL_SSL"', "must be a JSON object"),
        ('{"Security Protocol": "SSL"}', "not a librdkafka property name"),
        ('{"sasl.jaas": {"user": "x"}}', "'sasl.jaas' must be a string, number or boolean"),
        ('{"ssl.ca.location": null}', "'ssl.ca.location' must be a string, number or boolean"),
    ],
)
def test_a_malformed_value_names_the_variable_and_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match="MASTERY_KAFKA_CONFIG") as raised:
        settings_with(text)
    assert problem in str(raised.value)


def test_no_message_quotes_a_value() -> None:
    for text in [
        json.dumps({"sasl.password": SECRET, "acks": "0"}),
        json.dumps({"sasl.password": SECRET, "x": [SECRET]}),
        '{"sasl.password": "' + SECRET + '" oops}',
    ]:
        with pytest.raises(ConfigurationError) as raised:
            settings_with(text)
        assert SECRET not in str(raised.value)


def test_secrets_stay_out_of_representations_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    settings = settings_with(json.dumps(SASL))
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("mastery.test").info("settings: %r", settings)
    assert SECRET not in repr(settings)
    assert SECRET not in caplog.text
    assert "sasl.password=***" in repr(settings.kafka_config)


def test_the_properties_survive_the_trip_to_a_worker_process() -> None:
    settings = settings_with(json.dumps(SASL))
    assert pickle.loads(pickle.dumps(settings)) == settings
    assert hash(settings) == hash(settings_with(json.dumps(dict(reversed(SASL.items())))))


def test_librdkafka_takes_every_clients_configuration_with_sasl() -> None:
    """The clients are only created (nothing listens on the address): librdkafka checks every
    property name and value when a client is made."""
    settings = Settings.from_env(
        {
            "MASTERY_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
            "MASTERY_KAFKA_CONFIG": json.dumps(
                {
                    "security.protocol": "SASL_PLAINTEXT",
                    "sasl.mechanism": "SCRAM-SHA-512",
                    "sasl.username": "mastery",
                    "sasl.password": SECRET,
                }
            ),
        }
    )
    consumer = Consumer(consumer_config(settings))
    consumer.close()
    producer = Producer(producer_config(settings))
    assert producer.flush(0) == 0
    AdminClient(admin_config(settings))
