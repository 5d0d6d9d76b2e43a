"""Query API throughput and latency: ``GET /v1/students/{id}/mastery`` with a valid token,
against a minimal Starlette endpoint returning the same Redis key, in one run.

Both servers run as uvicorn subprocesses (one worker each, httptools, uvloop) on the same
PostgreSQL and Redis; the API's document is the one the projector wrote. Measured for each:
  * closed loop: C keep-alive connections sending back-to-back requests for T seconds
    (maximum throughput);
  * open loop: a steady R requests/s for T seconds, latency measured from each request's
    scheduled send time (no coordinated omission): p50/p90/p99/max.
The API is measured again served by two uvicorn worker processes (a deployment choice on a
2-core machine); the throughput ratio compares one worker with one worker.
Targets (issue 5): API throughput >= 50% of the baseline's; API p99 < 10 ms at 1,000 req/s.
Writes bench/results/api.json.

Usage: python bench/api.py [--seconds 10] [--connections 32] [--rate 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.common import (
    configured_or_embedded,
    fresh_database,
    machine,
    postgres_server,
    write_result,
)
from infrastructure.auth.policy import Role
from infrastructure.auth.tokens import mint_token
from infrastructure.bootstrap import build
from infrastructure.migrate import upgrade
from infrastructure.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-" + uuid.uuid4().hex
TENANT = "bench"
STUDENT = "s00001"
PATH = f"/v1/students/{STUDENT}/mastery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def uvicorn_process(factory: str, env: dict[str, str], workers: int = 1) -> Iterator[int]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        factory,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--http",
        "httptools",
        "--loop",
        "uvloop",
        "--no-access-log",
        "--log-level",
        "warning",
        "--ws",
        "none",
        *(["--workers", str(workers)] if workers > 1 else []),
    ]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{factory} did not start") from None
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(30)


def request_bytes(port: int, token: str | None) -> bytes:
    lines = [f"GET {PATH} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def closed_loop(
    port: int, request: bytes, connections: int, seconds: float
) -> dict[str, Any]:
    stop = time.perf_counter() + seconds
    counts = {"ok": 0, "errors": 0}

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < stop:
            status = await one(reader, writer, request)
            counts["ok" if status == 200 else "errors"] += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    return {
        "requests_per_second": round(counts["ok"] / elapsed, 1),
        **counts,
        "connections": connections,
        "seconds": round(elapsed, 2),
    }


async def open_loop(port: int, request: bytes, rate: int, seconds: float) -> dict[str, Any]:
    """Requests sent at a steady rate; each measured from its scheduled time."""
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(64):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    errors = 0

    async def fire(scheduled: float) -> None:
        nonlocal errors
        connection = await pool.get()
        status = await one(*connection, request)
        latencies.append(time.perf_counter() - scheduled)
        errors += status != 200
        pool.put_nowait(connection)

    total = int(rate * seconds)
    start = time.perf_counter() + 0.1
    tasks = []
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(fire(scheduled)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait()[1].close()
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 3)

    achieved = total / (time.perf_counter() - start)
    return {
        "rate": rate,
        "achieved_rate": round(achieved, 1),
        "requests": total,
        "errors": errors,
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": pct(1.0),
    }


def seed(settings: Settings) -> str:
    """One student's events through the ingest path and the projector; returns the Redis key."""
    now = datetime.now(UTC)
    events = []
    for day in range(30):
        moment = (now - timedelta(days=day, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for j, component in enumerate(("quiz", "completion", "quality")):
            data = {
                "quiz": {"total_questions": 10, "correct_answers": 7},
                "completion": {"total_exercises": 10, "completed_exercises": 8},
                "quality": {"avg_code_quality": 0.8, "correctness": 0.9, "efficiency": 0.7},
            }[component]
            events.append(
                {
                    "event_id": f"e{day}-{j}",
                    "timestamp": moment,
                    "tenant_id": TENANT,
                    "student_id": STUDENT,
                    "component": component,
                    "topic": f"topic{j}",
                    "class_id": "c1",
                    "data": data,
                }
            )
    with build(settings) as container:
        container.ingest.ingest(events)
        container.projector.catch_up()
        return container.view.keys.current(TENANT, STUDENT)


def measure(name: str, port: int, token: str | None, args: argparse.Namespace) -> dict[str, Any]:
    request = request_bytes(port, token)
    probe = httpx.get(
        f"http://127.0.0.1:{port}{PATH}",
        headers={"Authorization": f"Bearer {token}"} if token else {},
    )
    assert probe.status_code == 200, probe.text
    if token:
        print("source:", probe.json()["source"])
    asyncio.run(closed_loop(port, request, args.connections, 2))  # warm-up
    closed = asyncio.run(closed_loop(port, request, args.connections, args.seconds))
    steady = asyncio.run(open_loop(port, request, args.rate, args.seconds))
    print(
        f"{name:9} closed loop {closed['requests_per_second']:>9} req/s | open loop "
        f"{steady['rate']} req/s: p50 {steady['p50_ms']} ms, p99 {steady['p99_ms']} ms"
    )
    return {"closed_loop": closed, "open_loop": steady}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=int, default=1000)
    args = parser.parse_args()
    with (
        postgres_server() as server_url,
        configured_or_embedded("redis") as redis_url,
        fresh_database(server_url, "api") as url,
    ):
        upgrade(url)
        prefix = f"bench-{uuid.uuid4().hex[:8]}:"
        settings = Settings(
            database_url=url, redis_url=redis_url, redis_prefix=prefix, jwt_secret=SECRET
        )
        key = seed(settings)
        token = mint_token(role=Role.STUDENT, subject=STUDENT, tenant_id=TENANT, key=SECRET)
        api_env = {
            "MASTERY_DATABASE_URL": url,
            "MASTERY_REDIS_URL": redis_url,
            "MASTERY_REDIS_PREFIX": prefix,
            "MASTERY_JWT_SECRET": SECRET,
            **(
                {"MASTERY_LOG_LEVEL": os.environ["BENCH_LOG_LEVEL"]}
                if "BENCH_LOG_LEVEL" in os.environ
                else {}
            ),
        }
        baseline_env = {"BENCH_REDIS_URL": redis_url, "BENCH_KEY": key}
        with (
            uvicorn_process("api.http.app:app_from_env", api_env) as api_port,
            uvicorn_process("bench.api_baseline:create", baseline_env) as baseline_port,
        ):
            baseline = measure("baseline", baseline_port, None, args)
            api = measure("api", api_port, token, args)
        with uvicorn_process("api.http.app:app_from_env", api_env, workers=2) as api_port:
            api_two = measure("api, 2 workers", api_port, token, args)
        ratio = (
            api["closed_loop"]["requests_per_second"]
            / baseline["closed_loop"]["requests_per_second"]
        )
        result = {
            "benchmark": "api",
            "route": "GET /v1/students/{id}/mastery",
            "api": api,
            "api_two_worker_processes": api_two,
            "baseline_minimal_starlette_redis_get": baseline,
            "throughput_ratio": round(ratio, 3),
            "targets": {"throughput_ratio_min": 0.5, "p99_ms_max_at_1000_rps": 10},
            "met": {
                "throughput": ratio >= 0.5,
                "p99_one_worker": api["open_loop"]["p99_ms"] < 10,
                "p99_two_workers": api_two["open_loop"]["p99_ms"] < 10,
            },
            "settings": vars(args),
            "machine": machine(),
        }
        path = write_result("api", result)
        print(f"throughput ratio {ratio:.2f}; written {path}")


if __name__ == "__main__":
    main()
