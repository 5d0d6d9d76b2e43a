"""Kafka adapters (SPEC §6): the ingest worker, its dead-letter topic, the results publisher."""
