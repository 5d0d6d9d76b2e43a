"""Operations: liveness, readiness, Prometheus metrics, the admin status, the OpenAPI document
and its interactive view (``api.http.docs``)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import psycopg
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.http import docs
from api.http.auth import authenticate
from api.http.guard import json_response, parse_query, problem_for
from api.http.models import HealthOut, NoQuery, ReadyOut
from api.http.problems import ProblemError
from api.http.services import Services, services_of
from api.http.status_models import (
    KafkaBacklogOut,
    KafkaErrorOut,
    ProjectionStatusOut,
    StatusOut,
    WorkerStatusOut,
)
from infrastructure.auth.policy import may_read_status
from infrastructure.kafka.backlog import (
    BACKLOG_TIMEOUT_SECONDS,
    BacklogUnavailableError,
    read_backlog,
)
from infrastructure.redis_views.connect import redis_answers
from infrastructure.runtime.supervision import WorkerHealth, check
from projections.view import PROJECTION_NAME

CHECK_TIMEOUT_SECONDS = 2.0


async def healthz(request: Request) -> Response:
    return json_response(HealthOut(status="ok"))


async def readyz(request: Request) -> Response:
    services = services_of(request)
    checks: dict[str, Callable[[Services], str]] = {
        "postgresql": _check_postgres,
        "redis": _check_redis,
        **({"kafka": _check_kafka} if services.settings.kafka_bootstrap_servers else {}),
    }
    results = {name: await run_in_threadpool(probe, services) for name, probe in checks.items()}
    results.update(await _worker_checks(services))
    ready = all(result == "ok" for result in results.values())
    body = ReadyOut(status="ready" if ready else "unavailable", checks=results)
    return json_response(body, 200 if ready else 503)


async def _worker_checks(services: Services) -> dict[str, str]:
    """Each supervised worker of this process: running, and progressing while work waits.
    A worker's lag probe may wait on the server that is down: it gets the checks' timeout."""
    stall = services.settings.worker_stall_seconds

    async def verdict(health: WorkerHealth) -> str:
        try:
            return await asyncio.wait_for(
                run_in_threadpool(check, health, stall), CHECK_TIMEOUT_SECONDS
            )
        except TimeoutError:
            return "lag unknown: timed out"

    workers = list(services.workers)
    verdicts = await asyncio.gather(*(verdict(health) for health in workers))
    return {health.name: result for health, result in zip(workers, verdicts, strict=True)}


def _workers_out(services: Services, verdicts: dict[str, str]) -> list[WorkerStatusOut]:
    out = []
    for health in services.workers:
        verdict = verdicts.get(health.name, "unknown")
        snapshot = health.snapshot()
        out.append(
            WorkerStatusOut(
                name=snapshot.name,
                state=snapshot.state.value,
                check=verdict,
                last_error=snapshot.last_error,
                failures=snapshot.failures,
                seconds_since_progress=_rounded(snapshot.last_progress_age),
                seconds_since_batch=_rounded(snapshot.last_batch_age),
                position=snapshot.position,
                lag=snapshot.lag,
            )
        )
    return out


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def _check_postgres(services: Services) -> str:
    url = services.settings.require_database_url()
    try:
        with psycopg.connect(url, connect_timeout=int(CHECK_TIMEOUT_SECONDS)) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


def _check_redis(services: Services) -> str:
    try:
        redis_answers(services.redis)
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


def _check_kafka(services: Services) -> str:
    """A TCP connection to any bootstrap server (the broker's own health is the worker's)."""
    servers = services.settings.kafka_bootstrap_servers or ""
    for server in servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host or "localhost", int(port)), CHECK_TIMEOUT_SECONDS):
                return "ok"
        except (OSError, ValueError):
            continue
    return "error: no bootstrap server reachable"


async def metrics(request: Request) -> Response:
    services = services_of(request)
    await run_in_threadpool(_update_projection_gauges, services)
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _update_projection_gauges(services: Services) -> None:
    try:
        status = services.projector.status()
    except Exception:
        return
    services.metrics.event_store_head.set(status.head)
    services.metrics.projection_position.labels(PROJECTION_NAME).set(status.position)
    services.metrics.projection_lag.labels(PROJECTION_NAME).set(status.lag_events)


async def status(request: Request) -> Response:
    try:
        services = services_of(request)
        principal = authenticate(request, services.verifier)
        if not may_read_status(principal):
            raise ProblemError(403, "only an admin token may read the status")
        parse_query(request, NoQuery)
        projection = await run_in_threadpool(services.projector.status)
        workers = _workers_out(services, await _worker_checks(services))
        kafka = await _kafka_backlog(services)
        _update_projection_gauges_from(services, projection.head, projection.position)
        return json_response(
            StatusOut(
                tenant_id=principal.tenant_id,
                event_store_head=projection.head,
                projections=[
                    ProjectionStatusOut(
                        name=PROJECTION_NAME,
                        position=projection.position,
                        lag_events=projection.lag_events,
                        lag_seconds=round(projection.lag_seconds, 3),
                    )
                ],
                workers=workers,
                kafka=kafka,
            )
        )
    except Exception as exc:
        return problem_for(request, exc)


async def _kafka_backlog(services: Services) -> KafkaBacklogOut | KafkaErrorOut | None:
    """The ingest backlog and the dead letters, or why the broker could not say: a broker
    that is down is part of the pipeline's health, not a failure of the status."""
    if not services.settings.kafka_bootstrap_servers:
        return None
    try:
        backlog = await asyncio.wait_for(
            run_in_threadpool(read_backlog, services.settings), 2 * BACKLOG_TIMEOUT_SECONDS
        )
    except BacklogUnavailableError as exc:
        return KafkaErrorOut(error=str(exc))
    except TimeoutError:
        return KafkaErrorOut(error="the broker did not answer in time")
    return KafkaBacklogOut(
        requests_waiting=backlog.requests_waiting, dead_letters=backlog.dead_letters
    )


def _update_projection_gauges_from(services: Services, head: int, position: int) -> None:
    services.metrics.event_store_head.set(head)
    services.metrics.projection_position.labels(PROJECTION_NAME).set(position)
    services.metrics.projection_lag.labels(PROJECTION_NAME).set(max(0, head - position))


async def openapi(request: Request) -> Response:
    document: bytes = request.app.state.openapi
    return Response(document, media_type="application/json")


routes: list[Route] = [
    Route("/healthz", healthz, methods=["GET"], name="healthz"),
    Route("/readyz", readyz, methods=["GET"], name="readyz"),
    Route("/metrics", metrics, methods=["GET"], name="metrics"),
    Route("/openapi.json", openapi, methods=["GET"], name="openapi"),
    Route("/v1/status", status, methods=["GET"], name="status"),
    *docs.routes,
]
