"""The dashboard's class page for a 300-student class, in headless chromium: how long from
navigation to the roster rendered (target < 1 s), and to every sparkline and the heatmap
loaded, against two baselines in the same run: the static shell alone (the sign-in page's
load event) and the roster's JSON fetched by the page without rendering anything.

A synthetic cohort (300 students, one class, four weeks ending today) is ingested and
projected, the API is served by uvicorn in a process of its own, and each run opens a fresh
browser context (no cache) already signed in. Times are Chromium's performance timeline:
``navigationStart`` to the page's ``roster-rendered`` / ``class-details-loaded`` marks.
Writes bench/results/dashboard.json.

Usage: python bench/dashboard.py [--students 300] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import Browser, sync_playwright

from bench.api import uvicorn_process
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
from infrastructure.synthetic import CohortShape, cohort_events

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-" + uuid.uuid4().hex
TENANT = "bench-dashboard"
CLASS = "class-00"
TARGET_MS = 1000.0
VIEWPORT = {"width": 1280, "height": 800}
MARK = "name => performance.getEntriesByName(name)[0].startTime"


def seed(settings: Settings, students: int) -> int:
    shape = CohortShape(
        students=students, classes=1, days=28, tenant_id=TENANT, end=datetime.now(UTC).date()
    )
    events = list(cohort_events(shape))
    with build(settings) as built:
        built.ingest.ingest(events)
        built.projector.catch_up()
    return len(events)


def signed_in(browser: Browser, token: str) -> Any:
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(f"sessionStorage.setItem('mastery.token', {json.dumps(token)})")
    return context


def class_page(browser: Browser, base: str, token: str) -> dict[str, float]:
    context = signed_in(browser, token)
    page = context.new_page()
    page.goto(f"{base}/dashboard/#/class/{CLASS}")
    page.wait_for_selector("#view[data-roster-rendered]", state="attached", timeout=30_000)
    rendered = page.evaluate(MARK, "roster-rendered")
    paint = page.evaluate(
        "() => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime"
    )
    page.wait_for_selector("#view[data-details-loaded]", state="attached", timeout=120_000)
    details = page.evaluate(MARK, "class-details-loaded")
    context.close()
    return {"first_paint_ms": paint, "roster_rendered_ms": rendered, "details_loaded_ms": details}


def shell(browser: Browser, base: str) -> float:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(f"{base}/dashboard/", wait_until="load")
    page.wait_for_selector("#token-input")
    loaded: float = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
    context.close()
    return loaded


def roster_fetch(browser: Browser, base: str, token: str) -> float:
    context = signed_in(browser, token)
    page = context.new_page()
    page.goto(f"{base}/healthz")
    took: float = page.evaluate(
        """async ([url, token]) => {
            const start = performance.now();
            const response = await fetch(url, {headers: {Authorization: `Bearer ${token}`}});
            await response.json();
            return performance.now() - start;
        }""",
        [f"{base}/v1/classes/{CLASS}/mastery", token],
    )
    context.close()
    return took


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(values), 1),
        "max_ms": round(max(values), 1),
    }


def measure(base: str, token: str, runs: int) -> dict[str, Any]:
    executable = shutil.which("chromium")
    if executable is None:
        raise SystemExit("chromium is not installed: `make bench` installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        class_page(browser, base, token)  # warm-up: the server's first requests
        pages = [class_page(browser, base, token) for _ in range(runs)]
        shells = [shell(browser, base) for _ in range(runs)]
        fetches = [roster_fetch(browser, base, token) for _ in range(runs)]
        browser.close()
    return {
        "class_page": {key: summary([p[key] for p in pages]) for key in pages[0]},
        "baseline_shell_load": summary(shells),
        "baseline_roster_fetch": summary(fetches),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with (
        postgres_server() as server,
        configured_or_embedded("redis") as redis_url,
        fresh_database(server, "dashboard") as url,
    ):
        upgrade(url)
        prefix = f"bench-{uuid.uuid4().hex[:8]}:"
        settings = Settings(
            database_url=url, redis_url=redis_url, redis_prefix=prefix, jwt_secret=SECRET
        )
        events = seed(settings, args.students)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "MASTERY_DATABASE_URL": url,
            "MASTERY_REDIS_URL": redis_url,
            "MASTERY_REDIS_PREFIX": prefix,
            "MASTERY_JWT_SECRET": SECRET,
        }
        token = mint_token(
            role=Role.TEACHER, subject="bench", tenant_id=TENANT, key=SECRET, classes=(CLASS,)
        )
        with uvicorn_process("api.http.app:app_from_env", env) as port:
            found = measure(f"http://127.0.0.1:{port}", token, args.runs)
    rendered = found["class_page"]["roster_rendered_ms"]["max_ms"]
    result = {
        "benchmark": "dashboard",
        "students": args.students,
        "events": events,
        **found,
        "target_roster_rendered_ms": TARGET_MS,
        "met": rendered < TARGET_MS,
        "machine": machine(),
        "settings": vars(args),
    }
    path = write_result("dashboard", result)
    print(json.dumps(result, indent=1), f"written to {path}")


if __name__ == "__main__":
    main()
