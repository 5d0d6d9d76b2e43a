"""The chaos soak of issue 11 (bench/chaos.py), as tests: one soak per variant, one test per check.

The soak starts its own PostgreSQL, Redis and broker under the test's temporary folder (never
the machine's shared services) and runs ``mastery project``, ``publish``, ``consume`` and
``serve`` as OS processes, while it ingests over HTTP, Kafka and backfill files and kills and
restarts processes and servers and erases students on a seeded schedule. The quick variant
(every fault kind at least once) runs in the default suite; the long one (at least 100,000
messages and 50 faults) is ``slow``. The full report is written beside the soak's folder as
``chaos.json`` and each failing test prints its check's evidence.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.chaos import FAULT_KINDS, LONG, SoakConfig, run_soak, summary_lines

pytestmark = pytest.mark.timeout(1800)

QUICK = SoakConfig(
    seed=76,  # its plan erases a student while the restarted publisher is still behind
    duration=10.0,
    min_faults=len(FAULT_KINDS),
    max_seconds=40.0,
    students=60,
    http_batch=50,
    kafka_batch=20,
    kafka_rate=150.0,
    backfill_lines=200,
    fault_gap=(0.5, 1.2),
    drain_seconds=40.0,
    stall_seconds=8.0,
)


@pytest.fixture(
    scope="module",
    params=[pytest.param(QUICK, id="quick"), pytest.param(LONG, id="long", marks=pytest.mark.slow)],
)
def report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("chaos")
    result = run_soak(request.param, folder / "soak")
    Path(folder / "chaos.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    print("\n".join(summary_lines(result)), f"\nreport: {folder / 'chaos.json'}")
    return result


def assert_check(report: dict[str, Any], name: str) -> None:
    check = report["checks"][name]
    evidence = json.dumps(check["evidence"], indent=1, default=str)[:6000]
    assert check["passed"], f"{check['summary']}\nevidence: {evidence}"


def test_the_soak_ran_at_its_size_with_every_kind_of_fault(report: dict[str, Any]) -> None:
    assert report["run"]["targets_met"], report["size"]
    assert set(report["faults_by_kind"]) == set(FAULT_KINDS), report["faults_by_kind"]
    failed = [f for f in report["faults"] if f["error"]]
    assert not failed, f"faults that could not be injected or recovered from: {failed}"
    assert not report["run"]["threads_still_running"]
    assert report["size"]["confirmed_events"] > 0


def test_the_store_check_passes(report: dict[str, Any]) -> None:
    assert_check(report, "store_check")


def test_every_event_answered_over_http_is_stored(report: dict[str, Any]) -> None:
    assert_check(report, "confirmed_stored_http")


def test_every_event_acknowledged_by_the_broker_is_stored(report: dict[str, Any]) -> None:
    assert_check(report, "confirmed_stored_kafka")


def test_every_event_of_a_backfill_file_is_stored(report: dict[str, Any]) -> None:
    assert_check(report, "confirmed_stored_backfill")


def test_nothing_is_stored_that_was_not_sent_as_a_valid_event(report: dict[str, Any]) -> None:
    assert_check(report, "no_phantoms")


def test_no_http_batch_is_refused_as_a_whole(report: dict[str, Any]) -> None:
    assert_check(report, "batches_answered_per_event")


def test_read_models_equal_a_clean_rebuild(report: dict[str, Any]) -> None:
    assert_check(report, "read_models_rebuild")


def test_no_erased_student_is_readable(report: dict[str, Any]) -> None:
    assert_check(report, "erased_unreadable")


def test_results_and_read_models_caught_up_with_the_store(report: dict[str, Any]) -> None:
    assert_check(report, "results_caught_up")


def test_no_worker_died_on_its_own(report: dict[str, Any]) -> None:
    assert_check(report, "workers_survive")


def test_the_service_is_ready_after_recovery(report: dict[str, Any]) -> None:
    assert_check(report, "ready")
