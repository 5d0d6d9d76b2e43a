"""Every view of the dashboard at desktop (1280x800) and phone (390x844) width: axe-core finds
no serious or critical violation, nothing is wider than the screen except inside a scrolling
table, and the class and student pages are kept as screenshots (tests/artifacts/dashboard/)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.dashboard.support import (
    ARTIFACTS,
    DESKTOP,
    PHONE,
    WAIT_MS,
    Cohort,
    screenshot,
    serious_violations,
)
from tests.e2e.http.support import Api

VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}


@pytest.fixture(params=sorted(VIEWPORTS))
def sized(request: pytest.FixtureRequest, browser: Browser) -> Iterator[tuple[str, Page]]:
    # The page's Content-Security-Policy allows no inline script: axe is injected as one.
    context = browser.new_context(viewport=VIEWPORTS[request.param], bypass_csp=True)
    yield request.param, context.new_page()
    context.close()


def check(page: Page, name: str) -> None:
    found = serious_violations(page)
    assert not found, f"{name}: {found}"
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} is {overflow}px wider than the screen"


def test_every_view_is_accessible_and_fits(
    sized: tuple[str, Page], api: Api, cohort: Cohort
) -> None:
    size, page = sized
    first = next(iter(cohort.rosters))
    student = cohort.rosters[first][0]
    page.goto(f"{api.base_url}/dashboard/")
    expect(page.locator("h1")).to_have_text("Sign in")
    check(page, f"sign-in ({size})")

    token = api.tokens.mint("teacher", "ms-lee", cohort.tenant, classes=list(cohort.rosters))
    page.goto(f"{api.base_url}/dashboard/#token={token}")
    expect(page.locator(".class-card")).to_have_count(len(cohort.rosters))
    check(page, f"classes ({size})")

    page.evaluate("route => { location.hash = route; }", f"#/class/{first}")
    expect(page.locator("#view[data-details-loaded]")).to_be_attached(timeout=WAIT_MS)
    check(page, f"class ({size})")
    screenshot(page, f"class-{size}")

    page.evaluate("route => { location.hash = route; }", f"#/student/{student}")
    expect(page.locator(".events tbody tr").first).to_be_attached(timeout=WAIT_MS)
    expect(page.locator("mastery-chart canvas")).to_have_count(1)
    check(page, f"student ({size})")
    screenshot(page, f"student-{size}")
    if size == "desktop":  # the first screen only, for the README (docs/dashboard.png)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(ARTIFACTS / "student-desktop-first-screen.png"))

    page.goto(f"{api.base_url}/dashboard/#token={api.tokens.mint('admin', 'root', cohort.tenant)}")
    expect(page.locator("h1")).to_have_text("Overview")
    check(page, f"admin ({size})")
    screenshot(page, f"admin-{size}")
