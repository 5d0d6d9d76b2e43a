"""Commands sharing a data folder (SPEC §8) and configuration checked before anything starts.

Every command here runs as a user runs it, with no URL configured: the servers are the
embedded ones under the test's own data folder, started and stopped by the commands.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 240.0


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a user who configured nothing: no MASTERY_* variable but the folder."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("MASTERY_")}
    return {**env, "MASTERY_DATA_DIR": str(data_dir), "COLUMNS": "200", **extra}


def run(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run one command to its end; on a timeout, kill it and every server it started."""
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli.main", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"mastery {' '.join(args)} still running after {timeout}s:\n{out}\n{err}")
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@contextmanager
def running(env: dict[str, str], *args: str, ready: str) -> Iterator[subprocess.Popen[str]]:
    """A long-running command, yielded once ``ready`` appears in its output."""
    log = Path(env["MASTERY_DATA_DIR"]).parent / f"{args[0]}.out"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli.main", *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while ready not in log.read_text():
            assert process.poll() is None, f"exited early:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"not ready:\n{log.read_text()}"
            time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def accepts_connections(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def servers_record(data_dir: Path) -> dict[str, dict[str, object]]:
    record: dict[str, dict[str, object]] = json.loads((data_dir / "embedded.json").read_text())
    return record


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def printed_database_url(output: Path) -> str:
    for line in output.read_text().splitlines():
        if line.startswith("PostgreSQL "):
            return line.split()[1]
    raise AssertionError(f"no PostgreSQL URL in {output.read_text()}")


def postmaster_pid(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'"
        ).fetchone()
    assert row is not None
    # The checkpointer lives as long as the postmaster: a restarted server has a new one.
    return int(row[0])


def wait_until_ready(url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url} not ready"
        time.sleep(0.3)


def a_demo_student(data_dir: Path) -> str:
    first = (data_dir / "demo-cohort.jsonl").read_text().splitlines()[0]
    student: str = json.loads(first)["student_id"]
    return student


def test_a_second_command_attaches_to_a_running_demo_and_stops_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = cli_env(data_dir)
    port = free_port()
    demo_args = ("demo", "--students", "4", "--days", "3", "--port", str(port))
    with running(env, *demo_args, ready="try:") as demo:
        wait_until_ready(f"http://127.0.0.1:{port}/readyz")
        database_url = printed_database_url(tmp_path / "demo.out")
        postmaster = postmaster_pid(database_url)

        # The README's next step, with nothing exported: it attaches and finds the demo's key.
        replayed = run(env, "replay", a_demo_student(data_dir), "--tenant", "demo")
        assert replayed.returncode == 0, replayed.stderr
        assert "mastery as of" in replayed.stdout
        assert "leftover" not in replayed.stderr

        assert demo.poll() is None
        after = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert after.status_code == 200, after.text
        assert postmaster_pid(database_url) == postmaster
        record = servers_record(data_dir)
        assert record["urls"]["postgres"] == database_url
        assert all(alive(int(str(pid))) for pid in record["pids"].values())

        demo.send_signal(signal.SIGINT)
        assert demo.wait(60) in (0, 130)  # uvicorn re-raises the SIGINT it handled
    assert not accepts_connections(int(str(database_url).rsplit(":", 1)[1].split("/")[0]))
    assert not (data_dir / "embedded.json").exists()


def test_the_demo_key_is_found_and_its_absence_is_a_clear_refusal(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = cli_env(data_dir)
    loaded = run(env, "demo", "--no-serve", "--students", "3", "--days", "3")
    assert loaded.returncode == 0, loaded.stderr
    student = a_demo_student(data_dir)

    found = run(env, "replay", student, "--tenant", "demo")
    assert found.returncode == 0, found.stderr
    assert "mastery as of" in found.stdout

    (data_dir / "demo-secrets.json").unlink()
    refused = run(env, "replay", student, "--tenant", "demo")
    assert refused.returncode == 2, refused.stderr
    assert "MASTERY_MASTER_KEY" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_after_the_owner_is_killed_the_next_command_starts_afresh(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = cli_env(data_dir)
    with running(env, "project", ready="projecting from position") as owner:
        record = servers_record(data_dir)
        owner.kill()
        owner.wait()

    replayed = run(env, "replay", "nobody", "--tenant", "t")
    # The database answered (an unknown student), on servers of the new command's own.
    assert replayed.returncode == 1, replayed.stderr
    assert "nobody" in replayed.stderr
    assert "belong to a running command" not in replayed.stderr
    assert not any(alive(int(str(pid))) for pid in record["pids"].values())
    assert not (data_dir / "embedded.json").exists()


@pytest.mark.parametrize("command", ["serve", "run"])
def test_serving_without_a_jwt_key_fails_before_starting_anything(
    tmp_path: Path, command: str
) -> None:
    data_dir = tmp_path / "data"
    result = run(cli_env(data_dir), command, "--port", str(free_port()), timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "MASTERY_JWT_SECRET" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not (data_dir / "postgres").exists()


def test_the_demo_on_a_busy_port_fails_before_printing_anything(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run(cli_env(data_dir), "demo", "--port", str(port), "--students", "2")
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"127.0.0.1:{port}" in result.stderr
    assert "in use" in result.stderr
    assert result.stdout == ""
    assert not (data_dir / "postgres").exists()
