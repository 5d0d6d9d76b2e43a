"""xAPI ingest throughput: statements/s through ``POST /xapi/statements`` in batches, beside the
same facts as learning events through ``POST /v1/events`` (the baseline), in one run.

One API server (uvicorn subprocess, one worker, httptools, uvloop) on a fresh PostgreSQL
database; the statements go to one tenant and the learning events they map to (made by the
same default mapping, so the store writes the same facts) to another. Rounds alternate
between the two paths so both see the same machine state; each round posts B batches of N
from C concurrent clients, every item new (each round's ids are fresh).
Target (issue 16): statements/s >= 80% of learning events/s.
Writes bench/results/xapi.json.

Usage: python bench/xapi.py [--rounds 3] [--batches 40] [--batch-size 500] [--clients 4]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import orjson

from bench.api import uvicorn_process
from bench.common import (
    configured_or_embedded,
    fresh_database,
    machine,
    postgres_server,
    server_facts,
    write_result,
)
from infrastructure.auth.policy import Role
from infrastructure.auth.tokens import mint_token
from infrastructure.migrate import upgrade
from infrastructure.xapi.translate import Translator

SECRET = "bench-secret-" + uuid.uuid4().hex
XAPI_TENANT = "bench-xapi"
EVENTS_TENANT = "bench-events"
STUDENTS = 2000
PROGRESS = "https://w3id.org/xapi/cmi5/result/extensions/progress"
ADL = "http://adlnet.gov/expapi/verbs/"


def statements(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """A platform's mix: answers to questions (scored), progress, and other activity."""
    now = datetime.now(UTC)
    made = []
    for _ in range(count):
        kind = rng.random()
        moment = now - timedelta(days=rng.randrange(30), minutes=rng.randrange(1440))
        body: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "actor": {
                "objectType": "Agent",
                "account": {
                    "homePage": "https://lms.example.com",
                    "name": f"s{rng.randrange(STUDENTS):05d}",
                },
            },
            "object": {
                "objectType": "Activity",
                "id": f"https://lms.example.com/courses/c{rng.randrange(20)}/unit{rng.randrange(8)}",
            },
            "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00"),
            "context": {
                "contextActivities": {
                    "grouping": [
                        {
                            "objectType": "Activity",
                            "id": f"https://lms.example.com/course/cls{rng.randrange(40)}",
                            "definition": {"type": "http://adlnet.gov/expapi/activities/course"},
                        }
                    ]
                }
            },
        }
        if kind < 0.5:
            body["verb"] = {"id": ADL + "answered", "display": {"en-US": "answered"}}
            body["object"]["definition"] = {"type": "http://adlnet.gov/expapi/activities/question"}
            body["result"] = {
                "score": {"raw": rng.randrange(11), "min": 0, "max": 10},
                "success": True,
                "duration": "PT45S",
            }
        elif kind < 0.8:
            body["verb"] = {"id": ADL + "progressed", "display": {"en-US": "progressed"}}
            body["result"] = {"extensions": {PROGRESS: rng.randrange(101)}}
        else:
            body["verb"] = {"id": ADL + "experienced", "display": {"en-US": "experienced"}}
        made.append(body)
    return made


def as_events(sent: list[dict[str, Any]], translator: Translator) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    events = []
    for statement in sent:
        item = translator.translate(statement, EVENTS_TENANT, now).item
        assert isinstance(item, dict)
        events.append(item)
    return events


async def post_all(
    port: int, path: str, headers: dict[str, str], bodies: list[Any], clients: int
) -> dict[str, Any]:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:  # encoded before the clock starts: the client's JSON is not measured
        queue.put_nowait(orjson.dumps(body))
    statuses: dict[int, int] = {}

    async def client() -> None:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={**headers, "Content-Type": "application/json"},
            timeout=120,
        ) as http:
            while not queue.empty():
                body = queue.get_nowait()
                response = await http.post(path, content=body)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return {"seconds": time.perf_counter() - started, "statuses": statuses}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    rng = random.Random(16)
    translator = Translator.from_file(None)
    with (
        postgres_server() as server_url,
        configured_or_embedded("redis") as redis_url,
        fresh_database(server_url, "xapi") as url,
    ):
        upgrade(url)
        env = {
            "MASTERY_DATABASE_URL": url,
            "MASTERY_REDIS_URL": redis_url,
            "MASTERY_REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:8]}:",
            "MASTERY_JWT_SECRET": SECRET,
            "MASTERY_LOG_LEVEL": "WARNING",
        }
        xapi_headers = {
            "Authorization": "Bearer "
            + mint_token(role=Role.SERVICE, subject="lms", tenant_id=XAPI_TENANT, key=SECRET),
            "X-Experience-API-Version": "1.0.3",
        }
        events_headers = {
            "Authorization": "Bearer "
            + mint_token(role=Role.SERVICE, subject="lms", tenant_id=EVENTS_TENANT, key=SECRET)
        }
        totals = {"xapi": [0, 0.0], "events": [0, 0.0]}
        rounds = []
        with uvicorn_process("api.http.app:app_from_env", env) as port:
            warm = statements(args.batch_size, rng)
            asyncio.run(post_all(port, "/xapi/statements", xapi_headers, [warm], 1))
            asyncio.run(
                post_all(
                    port, "/v1/events", events_headers, [{"events": as_events(warm, translator)}], 1
                )
            )
            for number in range(args.rounds):
                batches = [statements(args.batch_size, rng) for _ in range(args.batches)]
                events = [{"events": as_events(batch, translator)} for batch in batches]
                items = args.batches * args.batch_size
                order: list[tuple[str, str, dict[str, str], list[Any]]] = [
                    ("events", "/v1/events", events_headers, list(events)),
                    ("xapi", "/xapi/statements", xapi_headers, list(batches)),
                ]
                if number % 2:
                    order.reverse()
                measured: dict[str, Any] = {}
                for name, route, headers, bodies in order:
                    run = asyncio.run(post_all(port, route, headers, bodies, args.clients))
                    assert set(run["statuses"]) == {200}, run["statuses"]
                    totals[name][0] += items
                    totals[name][1] += run["seconds"]
                    measured[name] = round(items / run["seconds"], 1)
                rounds.append(measured)
                print(f"round {number + 1}: {measured}")
        xapi_rate = totals["xapi"][0] / totals["xapi"][1]
        events_rate = totals["events"][0] / totals["events"][1]
        ratio = xapi_rate / events_rate
        result = {
            "benchmark": "xapi",
            "route": "POST /xapi/statements (batches) vs POST /v1/events (batches)",
            "statements_per_second": round(xapi_rate, 1),
            "learning_events_per_second": round(events_rate, 1),
            "ratio": round(ratio, 3),
            "rounds": rounds,
            "targets": {"ratio_min": 0.8},
            "met": {"ratio": ratio >= 0.8},
            "settings": vars(args),
            "postgres": server_facts(url),
            "machine": machine(),
        }
        path = write_result("xapi", result)
        print(
            f"statements/s {xapi_rate:.0f}, learning events/s {events_rate:.0f}, "
            f"ratio {ratio:.2f}; written {path}"
        )


if __name__ == "__main__":
    main()
