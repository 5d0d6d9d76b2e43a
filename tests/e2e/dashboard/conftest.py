"""Fixtures of the dashboard's browser tests: the HTTP tests' real server (PostgreSQL, Redis,
uvicorn, projector), one synthetic cohort per module, and one headless chromium for the package."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.e2e.dashboard.support import DESKTOP, Cohort, chromium, ingest_cohort
from tests.e2e.http.conftest import (  # noqa: F401 (the HTTP tests' fixtures, reused as they are)
    api,
    api_settings,
    module_database_url,
    public_pem,
    redis_url,
    rsa_key,
)
from tests.e2e.http.support import Api


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Package-scoped: Playwright's sync API keeps an event loop running in this thread while
    it is open, which would break any later test that runs a loop of its own."""
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def cohort(api: Api) -> Cohort:  # noqa: F811 (the imported fixture, requested by name)
    """30 students in 3 classes, four weeks of activity ending today."""
    return ingest_cohort(api, f"t-{uuid.uuid4().hex[:10]}", students=30, classes=3)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP)
    opened = context.new_page()
    yield opened
    context.close()
