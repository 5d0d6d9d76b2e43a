"""A worker started while PostgreSQL is down waits for it instead of exiting (SPEC §10,
"workers keep working"): seen in the chaos soak, where a publisher restarted during a
PostgreSQL restart ended with exit code 1."""

from __future__ import annotations

from structlog.testing import capture_logs

from infrastructure.bootstrap import build
from infrastructure.kafka.publisher import ResultsPublisher
from infrastructure.kafka.workers import run_publisher
from infrastructure.settings import Settings
from infrastructure.synthetic import CohortShape, cohort_events
from tests.e2e.http.support import CuttableProxy
from tests.integration.kafka.support import running, through, wait_for


def _published(settings: Settings) -> int:
    with build(settings) as built:
        return ResultsPublisher(built.application, settings).position()


def test_a_publisher_started_while_the_database_is_down_waits_and_then_publishes(
    kafka: Settings, proxy: CuttableProxy
) -> None:
    events = list(cohort_events(CohortShape(students=10, events=100, days=5, tenant_id="wst")))
    with build(kafka) as built:
        built.ingest.ingest(events)
        head = built.application.head()
    proxy.cut()
    with capture_logs() as logs, running(run_publisher, through(kafka, proxy)):
        wait_for(
            lambda: any(e["event"] == "event_store_unavailable" for e in logs),
            90,
            "the publisher to find the database down",
        )
        proxy.restore()
        wait_for(lambda: _published(kafka) == head, 90, "everything published")
    # ``running`` re-raises the worker's failure: it did not fail, it waited.
