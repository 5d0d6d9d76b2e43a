"""Response models of the admin status, ``GET /v1/status`` (a module of their own:
``models.py`` holds the per-student ones)."""

from __future__ import annotations

from typing import Literal

from api.http.models import _Model


class ProjectionStatusOut(_Model):
    name: str
    position: int
    lag_events: int
    lag_seconds: float


class WorkerStatusOut(_Model):
    """A supervised worker running in the API's process (SPEC §10)."""

    name: str
    state: Literal["starting", "running", "backing off", "stopped"]
    check: str  # "ok", or why readiness fails because of this worker
    last_error: str | None
    failures: int
    seconds_since_progress: float | None
    seconds_since_batch: float | None
    position: int | None
    lag: int | None


class KafkaBacklogOut(_Model):
    """The broker's side of the pipeline (SPEC §11): requests the ingest group has not yet
    committed, and messages kept in the dead-letter topic for inspection."""

    requests_waiting: int
    dead_letters: int


class KafkaErrorOut(_Model):
    """The broker did not answer in time: the status still answers, with the reason."""

    error: str


class StatusOut(_Model):
    tenant_id: str
    event_store_head: int
    projections: list[ProjectionStatusOut]
    workers: list[WorkerStatusOut]
    kafka: KafkaBacklogOut | KafkaErrorOut | None  # null: Kafka is not configured
