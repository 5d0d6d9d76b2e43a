"""The Services a process serving requests starts with: the API's lifespan and ``mastery mcp``
(stdio) build theirs here, with the access-log writer, the hot reader and the generation each
request reads (SPEC §4b)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import replace

from api.http.generations import GenerationPicker
from api.http.metrics import Metrics
from api.http.services import ResponseCache, Services
from domain.mastery.formulas import formula_named
from infrastructure.auth.tokens import TokenVerifier
from infrastructure.bootstrap import Container
from infrastructure.compliance.access_log import AccessLog
from infrastructure.generations.registry import Generation
from infrastructure.redis_views.async_reader import AsyncCurrentReader
from infrastructure.redis_views.connect import async_redis_client
from projections.queries import StudentQueries


def started_services(
    built: Container, verifier: TokenVerifier, metrics: Metrics, stack: AsyncExitStack
) -> Services:
    """The services of ``built``, with the access-log writer started; ``stack`` flushes and
    stops it; each request reads the live generation through ``services.generations``. The
    API's lifespan and ``mastery mcp`` (stdio) build theirs here, so both read the same way."""
    access_log = AccessLog(built.settings.require_database_url())
    built.workers.add(access_log.health)
    access_log.start()
    stack.callback(access_log.close)
    fast_current = AsyncCurrentReader(async_redis_client(built.settings), built.view.keys)
    stack.push_async_callback(fast_current.close)
    services = Services(
        settings=built.settings,
        application=built.application,
        ingest=built.ingest,
        view=built.view,
        redis=built.redis,
        projector=built.projector,
        workers=built.workers,
        queries=StudentQueries(
            built.view, built.application, snapshot_ttl_days=built.settings.snapshot_ttl_days
        ),
        verifier=verifier,
        access_log=access_log,
        metrics=metrics,
        fast_current=fast_current,
        generation_views=built.generation_views,
    )
    services.generations = GenerationPicker(
        fast_current, built.generations, generation_services(services, built)
    )
    return services


def generation_services(root: Services, built: Container) -> Callable[[Generation], Services]:
    """Each generation's Services: its view, its queries, its response cache (documents of
    two generations may share a position), kept by prefix and formula; ``main`` is ``root``."""
    made: dict[tuple[str, str], Services] = {}

    def services_for(generation: Generation) -> Services:
        identity = (generation.prefix, generation.formula)
        if identity == (root.view.keys.prefix, root.formula):
            return root
        if identity not in made:
            view = built.view_of(generation)
            # Where the read models cannot answer, replays use the generation's formula.
            queries = StudentQueries(
                view,
                built.application,
                snapshot_ttl_days=built.settings.snapshot_ttl_days,
                formula=formula_named(generation.formula),
            )
            made[identity] = replace(
                root,
                view=view,
                queries=queries,
                responses=ResponseCache(),
                generation=generation.name,
                formula=generation.formula,
            )
        return made[identity]

    return services_for
