"""The baseline of bench/api.py: a minimal Starlette endpoint returning one Redis key as is
(sync endpoint, like the API's reads: Starlette runs it in its thread pool)."""

from __future__ import annotations

import os

import redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def create() -> Starlette:
    client = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    key = os.environ["BENCH_KEY"]

    def endpoint(request: Request) -> Response:
        return Response(client.get(key), media_type="application/json")

    return Starlette(routes=[Route("/v1/students/{id}/mastery", endpoint)])
