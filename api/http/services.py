"""What the HTTP handlers use, built once in the lifespan and kept on ``app.state``."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import Request

from api.http.metrics import Metrics
from domain.mastery.formulas import DEFAULT_FORMULA
from infrastructure.auth.tokens import TokenVerifier
from infrastructure.compliance.access_log import AccessLog
from infrastructure.event_store.application import MasteryApplication
from infrastructure.ingest.service import IngestService
from infrastructure.projection.runner import Projector
from infrastructure.redis_views.async_reader import AsyncCurrentReader
from infrastructure.redis_views.commands import RedisClient
from infrastructure.redis_views.view import RedisMasteryView
from infrastructure.runtime.supervision import Workers
from infrastructure.settings import Settings
from infrastructure.xapi.translate import Translator
from projections.queries import StudentQueries
from projections.view import MasteryView, StudentKey


class ResponseCache:
    """Serialised response bodies by a key that names everything they depend on (for mastery:
    student, store position, date, source, staleness), least recently used dropped first."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._bodies: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_render(self, key: Hashable, render: Callable[[], bytes]) -> bytes:
        with self._lock:
            body = self._bodies.get(key)
            if body is not None:
                self._bodies.move_to_end(key)
                return body
        body = render()
        with self._lock:
            self._bodies[key] = body
            if len(self._bodies) > self.size:
                self._bodies.popitem(last=False)
        return body


@dataclass
class Services:
    """Each handler's dependencies, named (not a container to look things up in)."""

    settings: Settings
    application: MasteryApplication
    ingest: IngestService
    view: RedisMasteryView
    redis: RedisClient
    projector: Projector
    workers: Workers
    queries: StudentQueries
    verifier: TokenVerifier
    access_log: AccessLog
    metrics: Metrics
    responses: ResponseCache = field(default_factory=ResponseCache)
    fast_current: AsyncCurrentReader | None = None
    xapi: Translator = field(default_factory=lambda: Translator.from_file(None))
    generation: str = "main"  # the generation ``view`` and ``queries`` read (SPEC §4b)
    formula: str = DEFAULT_FORMULA.name
    generations: Picker | None = None  # which generation a request reads (api.http.generations)
    # Every generation's read models by name, as the registry says now (erasure seals all).
    generation_views: Callable[[], Mapping[str, MasteryView]] | None = None


@dataclass(frozen=True, slots=True)
class Picked:
    """The generation a request reads, and the student's current document in it when it was
    read with the live pointer (``current_read``)."""

    services: Services
    current: dict[str, Any] | None = None
    current_read: bool = False


class Picker(Protocol):
    async def pick(self, key: StudentKey | None, wanted: str | None) -> Picked: ...


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services
