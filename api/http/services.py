"""What the HTTP handlers use, built once in the lifespan and kept on ``app.state``."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from api.http.metrics import Metrics
from infrastructure.access_log import AccessLog
from infrastructure.auth import TokenVerifier
from infrastructure.container import Container
from infrastructure.queries import StudentQueries


@dataclass
class Services:
    container: Container
    queries: StudentQueries
    verifier: TokenVerifier
    access_log: AccessLog
    metrics: Metrics


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services
