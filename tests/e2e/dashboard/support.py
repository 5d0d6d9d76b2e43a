"""Helpers of the dashboard's browser tests: Debian's chromium driven by Playwright, axe-core
injected into a page, the synthetic cohort ingested through the API, screenshots."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from infrastructure.synthetic import CohortShape, cohort_events
from tests.e2e.http.support import Api

ROOT = Path(__file__).resolve().parents[3]
AXE = ROOT / "api/http/dashboard/node_modules/axe-core/axe.min.js"
UPLOT = ROOT / "api/http/dashboard/vendor/uPlot.esm.js"
ARTIFACTS = ROOT / "tests/artifacts/dashboard"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
WAIT_MS = 15_000


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's chromium (never a browser Playwright downloads: only registries are reachable).
    Missing, it fails the test: a dashboard nobody checked is not a pass."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed: `make test` installs it (apt-get install chromium)")
    for needed in (AXE, UPLOT):
        if not needed.is_file():
            pytest.fail(
                f"{needed.relative_to(ROOT)} is missing: `make install` fetches it (npm ci)"
            )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical findings on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    violations: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document)).violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"""
    )
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@dataclass(frozen=True)
class Cohort:
    tenant: str
    rosters: dict[str, list[str]]  # class id → its students, from the generator
    events: dict[str, int]  # student → how many events the generator gave them

    def students(self) -> list[str]:
        return sorted({s for roster in self.rosters.values() for s in roster})


def ingest_cohort(api: Api, tenant: str, students: int, classes: int, days: int = 28) -> Cohort:
    """The synthetic cohort, ending today, posted as a service would, and projected."""
    shape = CohortShape(
        students=students,
        classes=classes,
        days=days,
        tenant_id=tenant,
        end=datetime.now(UTC).date(),
    )
    events = list(cohort_events(shape))
    client = api.as_("service", "agent", tenant)
    position = 0
    for start in range(0, len(events), 1000):
        response = client.post("/v1/events", json={"events": events[start : start + 1000]})
        assert response.status_code == 200, response.text
        position = max(position, response.json()["position"] or 0)
    api.container.view.wait("mastery", position, timeout=120)
    rosters: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for item in events:
        rosters.setdefault(item["class_id"], set()).add(item["student_id"])
        counts[item["student_id"]] = counts.get(item["student_id"], 0) + 1
    return Cohort(tenant, {c: sorted(s) for c, s in sorted(rosters.items())}, counts)
