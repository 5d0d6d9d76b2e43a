"""``mastery ready ROLE`` reads the heartbeats supervised workers write: exit 0 for a worker
running or standing by, 1 (with the reason) for none, a stale one, or one backing off."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner, Result

from api.cli.main import app
from infrastructure.runtime import heartbeat
from infrastructure.runtime.supervision import WorkerHealth


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "health"
    heartbeat.enable(directory)
    yield directory
    heartbeat.disable()


def _ready(folder: Path, role: str, *args: str, **variables: str) -> Result:
    env = {"MASTERY_DATA_DIR": str(folder.parent / "data"), "MASTERY_HEALTH_DIR": str(folder)}
    return CliRunner().invoke(app, ["ready", role, *args], env={**env, **variables})


def _edit(path: Path, **changes: object) -> None:
    content = orjson.loads(path.read_bytes())
    path.write_bytes(orjson.dumps({**content, **changes}))


def test_no_heartbeat_is_not_ready(folder: Path) -> None:
    result = _ready(folder, "projector")
    assert result.exit_code == 1
    assert "projector: no heartbeat" in result.output


def test_a_leader_making_progress_is_ready(folder: Path) -> None:
    health = WorkerHealth("projector")
    health.leading(4711)
    health.progressed(batch=True, position=120, lag=3)
    result = _ready(folder, "projector")
    assert result.exit_code == 0, result.output
    assert "projector: leader (term 4711) since" in result.output
    assert "position 120" in result.output


def test_a_standby_is_alive_and_ready_and_says_since_when(folder: Path) -> None:
    WorkerHealth("publisher").standby()
    result = _ready(folder, "publisher")
    assert result.exit_code == 0, result.output
    assert "publisher: standby, waiting for leadership since 20" in result.output


def test_a_worker_backing_off_is_not_ready(folder: Path) -> None:
    health = WorkerHealth("consumer")
    health.running()
    health.backing_off(ConnectionError("broker down"))
    result = _ready(folder, "consumer")
    assert result.exit_code == 1
    assert "consumer: backing off: ConnectionError: broker down" in result.output


def test_a_stale_heartbeat_is_not_ready(folder: Path) -> None:
    """A worker frozen in its loop renews nothing: its file ages past the maximum."""
    WorkerHealth("projector").standby()
    (path,) = folder.glob("projector.*.json")
    _edit(path, written_at=orjson.loads(path.read_bytes())["written_at"] - 31)
    result = _ready(folder, "projector")
    assert result.exit_code == 1
    assert "projector: stale heartbeat, last written 31 s ago (standby)" in result.output
    assert _ready(folder, "projector", "--max-age", "60").exit_code == 0
    assert _ready(folder, "projector", MASTERY_HEARTBEAT_MAX_AGE_SECONDS="60").exit_code == 0


def test_a_stopped_worker_is_not_ready(folder: Path) -> None:
    health = WorkerHealth("publisher")
    health.running()
    health.stopped()
    result = _ready(folder, "publisher")
    assert result.exit_code == 1
    assert "publisher: stopped" in result.output


def test_the_file_of_a_dead_process_is_passed_over(folder: Path) -> None:
    WorkerHealth("consumer").running()
    (path,) = folder.glob("consumer.*.json")
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    path.rename(folder / f"consumer.{int(gone.stdout)}.json")
    result = _ready(folder, "consumer")
    assert result.exit_code == 1
    assert "no heartbeat" in result.output


def test_every_worker_of_the_role_must_be_healthy(folder: Path) -> None:
    """Two consumer processes in one container: one backing off makes the role unready."""
    WorkerHealth("consumer").running()
    (path,) = folder.glob("consumer.*.json")
    twin = folder / f"consumer.{os.getppid()}.json"
    twin.write_bytes(path.read_bytes())
    _edit(twin, state="backing off", last_error="OperationalError: down")
    result = _ready(folder, "consumer")
    assert result.exit_code == 1
    assert "consumer: running" in result.output
    assert "consumer: backing off: OperationalError: down" in result.output


def test_heartbeats_are_renewed_at_most_once_a_second_but_at_once_on_a_change(
    folder: Path,
) -> None:
    health = WorkerHealth("projector")
    health.running()
    (path,) = folder.glob("projector.*.json")
    first = orjson.loads(path.read_bytes())
    health.progressed(position=1)
    assert orjson.loads(path.read_bytes())["written_at"] == first["written_at"]
    health.backing_off(RuntimeError("boom"))
    assert orjson.loads(path.read_bytes())["state"] == "backing off"
    assert [p.name for p in folder.iterdir()] == [path.name], "a temporary file was left"


def test_an_unwritable_folder_does_not_stop_the_worker(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    heartbeat.enable(blocker / "health")
    try:
        health = WorkerHealth("projector")
        health.running()
        health.backing_off(RuntimeError("boom"))
        assert health.snapshot().failures == 1
    finally:
        heartbeat.disable()


def test_bad_usage_exits_2(folder: Path) -> None:
    assert _ready(folder, "janitor").exit_code == 2
