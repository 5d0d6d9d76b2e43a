"""Building a generation beside a live one (SPEC §4b, issue 14), against baselines in the same
run.

1. Baseline: a plain rebuild of the live read models (``mastery projections rebuild``'s code
   path) of N events (default 500,000): events/s.
2. Baseline: the live lag while the live generation follows a steady ingest (default 1,000
   events/s) and nothing else runs: for each committed batch, the time from its commit to the
   live projector's position reaching it; p50/p99/max.
3. Measured: the same live lag while ``mastery generations build`` builds a second generation
   of the same N events in a process of its own, as an operator runs it (its bulk pass in
   worker processes), and the build's throughput (events/s). The writer runs in a process of
   its own too, so neither slows the live projector's process but through the machine.
4. Measured: the live lag once the projector follows both generations.
Target (issue 14): the live lag's p99 stays below 250 ms during the build.
Writes bench/results/generations.json.

Usage: python bench/generations.py [--events 500000] [--students 5000] [--rate 1000]
       [--seconds 20] [--formula seed-v1]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from bench.common import (
    configured_or_embedded,
    fresh_database,
    machine,
    postgres_server,
    server_facts,
    write_result,
)
from bench.projection import load_store, rebuild
from domain.mastery.formulas import formula_named
from infrastructure.bootstrap import build
from infrastructure.generations import lifecycle
from infrastructure.migrate import upgrade
from infrastructure.runtime.priority import lower_priority
from infrastructure.settings import Settings
from infrastructure.synthetic import CohortShape, cohort_events

PREFIX = "bench-generations:"


def live_lag(
    settings: Settings, rate: int, shape: CohortShape, until: Callable[[], bool]
) -> dict[str, Any]:
    """Ingest ``shape``'s events at ``rate`` from a writer process while the live projector
    (following every ready generation) runs here, until ``until()``; per committed batch, the
    time until the live position reaches it (CLOCK_MONOTONIC, the same in every process)."""
    stop = threading.Event()
    context = multiprocessing.get_context("spawn")
    writer_stop, commits_out = context.Event(), context.Queue()
    with build(settings) as projecting:
        projecting.projector.catch_up()
        runner = threading.Thread(target=projecting.projector.run, args=(stop,), daemon=True)
        runner.start()
        client = redis.Redis.from_url(str(settings.redis_url))
        tracking = projecting.view.keys.tracking("mastery")
        reached: dict[int, float] = {}

        def watch() -> None:
            while not stop.is_set():
                value = client.get(tracking)
                if value is not None:
                    reached.setdefault(int(value), time.monotonic())
                time.sleep(0.001)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        writer = context.Process(
            target=_write_at_rate, args=(settings, rate, shape, writer_stop, commits_out)
        )
        writer.start()
        started = time.monotonic()
        while not until():
            time.sleep(0.05)
        writer_stop.set()
        commits: list[tuple[int, float]] = commits_out.get(timeout=120)
        writer.join(60)
        elapsed = time.monotonic() - started
        deadline = time.monotonic() + 60
        while commits and max(reached, default=0) < commits[-1][0]:
            assert time.monotonic() < deadline, "the live projector did not catch up"
            time.sleep(0.01)
        stop.set()
        runner.join(timeout=30)
        watcher.join(timeout=5)
        client.close()
    seen = sorted(reached.items())
    latencies = sorted(
        max(0.0, next(t for p, t in seen if p >= position) - committed) * 1000
        for position, committed in commits
    )
    per_tick = max(1, rate // 50)
    return {
        "rate_events_per_second": rate,
        "achieved_events_per_second": len(commits) * per_tick / elapsed,
        "seconds": elapsed,
        "batches": len(commits),
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)],
        "max_ms": latencies[-1],
    }


def _write_at_rate(settings: Settings, rate: int, shape: CohortShape, stop: Any, out: Any) -> None:
    """The writer process: one batch every 20 ms until ``stop``; sends its commits."""
    events = cohort_events(shape)
    per_tick, tick = max(1, rate // 50), 1 / 50
    commits: list[tuple[int, float]] = []
    with build(settings) as writer:
        next_tick = time.monotonic()
        while not stop.is_set():
            report = writer.ingest.ingest([next(events) for _ in range(per_tick)])
            assert report.position is not None
            commits.append((report.position, time.monotonic()))
            next_tick += tick
            time.sleep(max(0.0, next_tick - time.monotonic()))
    out.put(commits)


def for_seconds(seconds: float) -> Callable[[], bool]:
    deadline = time.monotonic() + seconds
    return lambda: time.monotonic() >= deadline


def build_beside(settings: Settings, formula: str, events: int, nice: int) -> tuple[Any, Any]:
    """``generations build candidate`` in a process of its own, as an operator runs it; its
    figures come on the returned queue."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    process = context.Process(target=_build, args=(settings, formula, events, nice, out))
    process.start()
    return process, out


def _build(settings: Settings, formula: str, events: int, nice: int, out: Any) -> None:
    lower_priority(nice)  # as `mastery generations build --nice` does
    with build(settings) as built:
        started = time.monotonic()
        generation = lifecycle.build(
            built.generations, "candidate", formula_named(formula), built.projector_of
        )
        elapsed = time.monotonic() - started
        position = built.view_of(generation).max_tracking_id("mastery") or 0
    out.put(
        {
            "seconds": elapsed,
            "events_per_second": events / elapsed,
            "notifications_per_second": position / elapsed,
            "position": position,
        }
    )


def live_shape(students: int, rate: int, phase: str) -> CohortShape:
    return CohortShape(
        students=students, events=rate * 3600, days=1, tenant_id=f"live-{phase}", seed=99
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--students", type=int, default=5_000)
    parser.add_argument("--rate", type=int, default=1_000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--formula", default="bkt-v1", help="the new generation's formula")
    parser.add_argument("--workers", type=int, default=None, help="bulk worker processes")
    parser.add_argument(
        "--nice", type=int, default=10, help="the build's priority (generations build --nice)"
    )
    args = parser.parse_args()
    formula = args.formula
    try:
        formula_named(formula)
    except ValueError:
        formula = "seed-v1"  # bkt-v1 not registered on this branch: the same work, seed-v1
    with (
        postgres_server() as server,
        configured_or_embedded("redis") as redis_url,
        fresh_database(server, "generations") as url,
    ):
        upgrade(url)
        settings = Settings(
            database_url=url, redis_url=redis_url, redis_prefix=PREFIX, snapshot_ttl_days=0
        )
        if args.workers is not None:
            settings = replace(settings, projection_workers=args.workers)
        client = redis.Redis.from_url(redis_url)
        lifecycle.delete_keys(client, PREFIX)
        load_store(settings, args.events, args.students)
        plain = rebuild(settings, args.events)
        idle = live_lag(
            settings,
            args.rate,
            live_shape(args.students, args.rate, "idle"),
            for_seconds(args.seconds),
        )
        builder, figures = build_beside(settings, formula, args.events, args.nice)
        during = live_lag(
            settings,
            args.rate,
            live_shape(args.students, args.rate, "build"),
            lambda: not builder.is_alive(),
        )
        built_figures = figures.get(timeout=60)
        builder.join(60)
        following_two = live_lag(
            settings,
            args.rate,
            live_shape(args.students, args.rate, "two"),
            for_seconds(args.seconds),
        )
        facts = server_facts(url)
        lifecycle.delete_keys(client, PREFIX)
        client.close()
    result = {
        "benchmark": "generations",
        "events": args.events,
        "students": args.students,
        "formula": formula,
        "build_nice": args.nice,
        "server": facts,
        "machine": machine(),
        "baseline_plain_rebuild": plain,
        "baseline_live_lag_no_build": idle,
        "build": built_figures,
        "build_fraction_of_plain_rebuild": built_figures["events_per_second"]
        / plain["events_per_second"],
        "live_lag_during_build": during,
        "live_lag_following_two_generations": following_two,
        "targets": {"live_p99_ms_during_build": 250},
    }
    path = write_result("generations", result)
    print(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
