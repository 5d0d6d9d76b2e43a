"""One student with a long history: ``mastery replay`` and ``/timeline`` at real scale, each
against a baseline in the same run that reads and decodes the same events without computing
any mastery.

A synthetic student with N events (default 10,000) over T topics (default 200) and a year of
days is ingested through the ingest path. Measured:
  1. ``mastery replay STUDENT --format json`` (and ``--format jsonl``) as a user runs it, a
     process of its own writing to a file: wall time and peak RSS (``wait4``), against a
     process that reads and decodes the student's events and writes them as JSON.
  2. ``GET /v1/students/{id}/timeline?limit=500`` pages at cursors spread over the history,
     the last page a quarter of the time: p50/p99, against ``GET /v1/students/{id}/events
     ?limit=500`` pages at the same cursors (the same events read, decoded, ordered and
     serialised, no mastery). The server keeps a replay while the history is unchanged and
     extends it with events dated last, so the last page is also measured right after a new
     event dated last, and right after a late one (dated earlier: the history is read,
     decoded and replayed again), for both routes, and a fresh server's first page.
Targets (issue 13): replay < 5 s and < 300 MB peak RSS; a 500-step page p99 < 100 ms.
Writes bench/results/history.json.

Usage: python bench/history.py [--events 10000] [--topics 200] [--requests 200] [--cold 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

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
from infrastructure.bootstrap import build
from infrastructure.migrate import upgrade
from infrastructure.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-" + uuid.uuid4().hex
TENANT = "bench-history"
STUDENT = "long-history"
PAGE = 500
TARGETS = {"replay_seconds": 5.0, "replay_peak_rss_mb": 300.0, "timeline_page_p99_ms": 100.0}

# Reads and decodes the student's events, writes them as JSON: everything replay does but the
# mastery. Run as its own process, like the replay, so both pay the same start-up.
BASELINE = """
import json, sys
from datetime import date
from infrastructure.bootstrap import build
from infrastructure.settings import Settings
with build(Settings.from_env()) as built:
    events = list(built.application.learning_events(sys.argv[1], sys.argv[2]))
    events.sort(key=lambda e: (e.occurred_at, e.event_id))
    out = sys.stdout
    out.write('{"events": [')
    for n, e in enumerate(events):
        document = {"event_id": e.event_id, "timestamp": e.occurred_at.isoformat(),
                    "component": e.component.value, "topic": e.topic, "data": e.data}
        out.write(("" if n == 0 else ",") + json.dumps(document))
    out.write("]}")
"""


def history(events: int, topics: int, seed: int = 13) -> list[dict[str, Any]]:
    """``events`` events over ``topics`` topics and a year, most days active, in no order."""
    rng = random.Random(seed)
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    documents = []
    for n in range(events):
        moment = end - timedelta(seconds=rng.randrange(365 * 86400))
        component = rng.choices(
            ("completion", "quiz", "quality", "consistency"), weights=(3, 4, 2, 1)
        )[0]
        documents.append(
            {
                "event_id": f"h{n:06d}",
                "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "tenant_id": TENANT,
                "student_id": STUDENT,
                "class_id": "c1",
                "component": component,
                "topic": f"kc{rng.randrange(topics):03d}",
                "data": _data(rng, component),
            }
        )
    return documents


def _data(rng: random.Random, component: str) -> dict[str, Any]:
    if component == "completion":
        total = rng.randint(5, 30)
        return {"total_exercises": total, "completed_exercises": rng.randint(0, total)}
    if component == "quiz":
        total = rng.randint(5, 20)
        return {
            "total_questions": total,
            "correct_answers": rng.randint(0, total),
            "attempts": rng.randint(1, 3),
        }
    if component == "quality":
        return {
            k: round(rng.random(), 2) for k in ("avg_code_quality", "correctness", "efficiency")
        }
    return {}


def timed_process(command: list[str], env: dict[str, str], output: Path) -> dict[str, Any]:
    """Wall time and peak RSS of one process writing its stdout to ``output``."""
    with output.open("wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""
    return {
        "seconds": round(elapsed, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # ru_maxrss is in KiB on Linux
        "output_mb": round(output.stat().st_size / 2**20, 2),
    }


def replay_runs(env: dict[str, str], events: int) -> dict[str, Any]:
    mastery = [sys.executable, "-m", "api.cli.main", "replay", STUDENT, "--tenant", TENANT]
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        baseline = timed_process(
            [sys.executable, "-c", BASELINE, TENANT, STUDENT], env, out / "baseline.json"
        )
        as_json = timed_process([*mastery, "--format", "json"], env, out / "replay.json")
        steps = json.loads((out / "replay.json").read_text())["steps"]
        assert len(steps) == events, len(steps)
        as_jsonl = timed_process([*mastery, "--format", "jsonl"], env, out / "replay.jsonl")
        assert sum(1 for _ in (out / "replay.jsonl").open()) == events
    return {"json": as_json, "jsonl": as_jsonl, "baseline_read_decode_write_events": baseline}


def cursors(client: httpx.Client, events: int) -> list[str | None]:
    """The cursors of the 500-step pages: from the start, every page, the last included."""
    found: list[str | None] = [None]
    while True:
        page = client.get(f"/v1/students/{STUDENT}/events", params=_params(found[-1])).json()
        if page["next"] is None:
            break
        found.append(page["next"])
    assert len(found) == -(-events // PAGE), len(found)
    return found


def client_of(port: int, role: Role) -> httpx.Client:
    token = mint_token(role=role, subject="bench", tenant_id=TENANT, key=SECRET)
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60)


def _params(after: str | None) -> dict[str, Any]:
    return {"limit": PAGE, **({"after": after} if after else {})}


def page_latencies(
    client: httpx.Client, route: str, pages: list[str | None], requests: int
) -> dict[str, Any]:
    rng = random.Random(5)
    for after in pages[:3]:  # warm-up
        client.get(f"/v1/students/{STUDENT}/{route}", params=_params(after))
    latencies = []
    for n in range(requests):
        after = pages[-1] if n % 4 == 0 else rng.choice(pages)  # the costliest page often
        started = time.perf_counter()
        response = client.get(f"/v1/students/{STUDENT}/{route}", params=_params(after))
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    latencies.sort()
    return {
        "requests": requests,
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 2),
        "max_ms": round(latencies[-1], 2),
    }


def first_request_ms(env: dict[str, str], route: str) -> float:
    """The first page a fresh server answers for the student (after a request that opens its
    connections): the history read, decoded and ordered, and for the timeline replayed."""
    with (
        uvicorn_process("api.http.app:app_from_env", env) as port,
        client_of(port, Role.ADMIN) as client,
    ):
        client.get("/readyz")
        started = time.perf_counter()
        response = client.get(f"/v1/students/{STUDENT}/{route}", params=_params(None))
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.text
    return round(elapsed, 2)


class Clock:
    """Times for the events a run adds: ``latest`` ones come after everything so far (a kept
    replay takes them as they are), ``late`` ones months earlier (everything is replayed)."""

    def __init__(self) -> None:
        self.added = 0
        self.start = datetime.now(UTC) - timedelta(minutes=30)

    def next(self, late: bool) -> datetime:
        self.added += 1
        moment = self.start + timedelta(seconds=self.added)
        return moment - timedelta(days=200) if late else moment


def cold_latencies(
    client: httpx.Client,
    writer: httpx.Client,
    route: str,
    last: str | None,
    rounds: int,
    *,
    clock: Clock,
    late: bool,
) -> dict[str, Any]:
    """The last page right after a new event, dated last (the kept replay is extended) or
    ``late`` (dated before the last event: the history is read, decoded and replayed again)."""
    latencies = []
    for n in range(rounds):
        moment = clock.next(late)
        new = {
            "event_id": f"{'late' if late else 'new'}-{route}-{n}",
            "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "student_id": STUDENT,
            "component": "consistency",
            "data": {},
        }
        assert writer.post("/v1/events", json=new).status_code == 201
        started = time.perf_counter()
        response = client.get(f"/v1/students/{STUDENT}/{route}", params=_params(last))
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return {
        "rounds": rounds,
        "median_ms": round(statistics.median(latencies), 2),
        "max_ms": round(max(latencies), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--topics", type=int, default=200)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--cold", type=int, default=5, help="pages right after a new event")
    args = parser.parse_args()
    with (
        postgres_server() as server,
        configured_or_embedded("redis") as redis_url,
        fresh_database(server, "history") as url,
    ):
        upgrade(url)
        prefix = f"bench-{uuid.uuid4().hex[:8]}:"
        settings = Settings(
            database_url=url, redis_url=redis_url, redis_prefix=prefix, jwt_secret=SECRET
        )
        with build(settings) as built:
            report = built.ingest.ingest(history(args.events, args.topics))
            assert report.counts == {"recorded": args.events}, report.counts
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "MASTERY_DATABASE_URL": url,
            "MASTERY_REDIS_URL": redis_url,
            "MASTERY_REDIS_PREFIX": prefix,
            "MASTERY_JWT_SECRET": SECRET,
        }
        replay = replay_runs(env, args.events)
        print("replay:", json.dumps(replay))
        with (
            uvicorn_process("api.http.app:app_from_env", env) as port,
            client_of(port, Role.ADMIN) as client,
            client_of(port, Role.SERVICE) as writer,
        ):
            pages = cursors(client, args.events)
            timeline = page_latencies(client, "timeline", pages, args.requests)
            events = page_latencies(client, "events", pages, args.requests)
            clock = Clock()
            for name, late in (("after_a_new_event", False), ("after_a_late_event", True)):
                for route, found in (("timeline", timeline), ("events", events)):
                    found[name] = cold_latencies(
                        client, writer, route, pages[-1], args.cold, clock=clock, late=late
                    )
        timeline["first_request_ms"] = first_request_ms(env, "timeline")
        events["first_request_ms"] = first_request_ms(env, "events")
        print("timeline:", json.dumps(timeline), "events:", json.dumps(events))
        facts = server_facts(url)
    result = {
        "benchmark": "history",
        "events": args.events,
        "topics": args.topics,
        "replay": replay,
        "timeline_page": {"limit": PAGE, **timeline},
        "baseline_events_page": {"limit": PAGE, **events},
        "targets": TARGETS,
        "met": {
            "replay_seconds": replay["json"]["seconds"] < TARGETS["replay_seconds"],
            "replay_peak_rss_mb": replay["json"]["peak_rss_mb"] < TARGETS["replay_peak_rss_mb"],
            "timeline_page_p99_ms": timeline["p99_ms"] < TARGETS["timeline_page_p99_ms"],
        },
        "server": facts,
        "machine": machine(),
        "settings": vars(args),
    }
    path = write_result("history", result)
    print(json.dumps(result["met"]), f"written to {path}")


if __name__ == "__main__":
    main()
