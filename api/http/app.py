"""The Starlette application of the query API (SPEC §7).

``create_app(settings)`` wires nothing at import time: its lifespan builds the container (or
uses one handed in, as ``mastery run`` does), starts the access-log writer and flushes it on
shutdown. Every route is denied by default: a ``/v1`` handler answers only after the token,
the ids and the role's rights have been checked.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio.to_thread
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from api.http import classes, events, ops, students, xapi
from api.http.guard import problem_for
from api.http.metrics import Metrics
from api.http.middleware import RequestContextMiddleware
from api.http.openapi import openapi_document
from api.http.problems import ProblemError, problem_response
from api.http.services import Services
from api.http.startup import started_services
from api.mcp.http import McpHttp
from infrastructure.auth.tokens import TokenVerifier
from infrastructure.bootstrap import Container, build
from infrastructure.runtime.logging import configure_logging
from infrastructure.settings import Settings
from infrastructure.xapi.translate import Translator

# The dashboard (SPEC §11): static files, a client of /v1 like any other (docs/dashboard.md).
DASHBOARD = Path(__file__).parent / "dashboard"


def create_app(settings: Settings, container: Container | None = None) -> Starlette:
    verifier = TokenVerifier.from_settings(settings)  # refuse to start without a key
    statements = Translator.from_settings(settings)  # refuse to start with a bad mapping file
    metrics = Metrics()
    mcp = McpHttp(lambda: services_of_app(app))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            built = container if container is not None else stack.enter_context(build(settings))
            services = started_services(built, verifier, metrics, stack)
            anyio.to_thread.current_default_thread_limiter().total_tokens = settings.http_threads
            _calm_garbage_collector()
            services.xapi = statements
            app.state.services = services
            await stack.enter_async_context(mcp.running())
            yield

    app = Starlette(
        routes=[
            *events.routes,
            *xapi.routes,
            *students.routes,
            *classes.routes,
            *ops.routes,
            mcp.route,
            Mount("/dashboard", StaticFiles(directory=DASHBOARD, html=True), name="dashboard"),
        ],
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_problem, Exception: _unexpected},
    )
    app.state.openapi = orjson.dumps(openapi_document())
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PUT", "DELETE"],  # PUT: /xapi/statements
            allow_headers=["Authorization", "Content-Type", xapi.VERSION_HEADER],
            expose_headers=[
                "X-Request-ID",
                "Retry-After",
                xapi.VERSION_HEADER,
                xapi.OUTCOMES_HEADER,
            ],
        )
    return app


def services_of_app(app: Starlette) -> Services:
    services: Services = app.state.services
    return services


def _calm_garbage_collector() -> None:
    """Latency: everything alive after start-up is moved out of the collector's sight, and
    young-generation collections run less often, so a request rarely waits for a full pass
    over the caches (the p99 tail of a busy server)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


async def _http_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = "no such route" if exc.status_code == 404 else str(exc.detail)
    problem = ProblemError(exc.status_code, detail, headers=dict(exc.headers or {}))
    return problem_response(problem, getattr(request.state, "request_id", None), request.url.path)


async def _unexpected(request: Request, exc: Exception) -> Response:
    return problem_for(request, exc)


def app_from_env(settings: Settings | None = None) -> Starlette:
    """The app of a uvicorn worker process, logging at ``settings.log_level``: for
    ``uvicorn --factory api.http.app:app_from_env`` with every URL configured in the
    environment, or with ``settings`` bound by ``mastery serve --workers``."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    return create_app(settings)
