"""Request ids, structured request logs and latency metrics, as a pure ASGI middleware.

A request id is taken from ``X-Request-ID`` when it is a short token of safe characters, else
generated; it is echoed back and bound to every log line of the request. The log line has the
method, route template, path, status and duration; never headers, so never a token.
"""

from __future__ import annotations

import random
import re
import time

import structlog
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.http.metrics import Metrics

REQUEST_ID_HEADER = b"x-request-id"
_SAFE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")

log = structlog.get_logger("mastery.http")


def request_id_of(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER and _SAFE_REQUEST_ID.fullmatch(value):
            return bytes(value).decode()
    return f"{random.getrandbits(128):032x}"


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    return route.path if isinstance(route, Route) else "unmatched"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            self.metrics.request_seconds.labels(route, scope["method"], str(status)).observe(
                elapsed
            )
            log.info(
                "request",
                method=scope["method"],
                route=route,
                path=scope["path"],
                status=status,
                duration_ms=round(elapsed * 1000, 3),
            )
            structlog.contextvars.unbind_contextvars("request_id")
