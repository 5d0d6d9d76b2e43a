"""The ``mastery`` CLI as a newcomer meets it: ``--version``, help that shows flags as flags,
the demo's banner with whole URLs and dashboard links, ``token --dashboard-link``, and
``replay`` output that pages and streams plain JSON."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import jwt
import typer
from typer.testing import CliRunner

from api.cli.main import app
from tests.support import write_jsonl

SECRET = "polish-secret-0123456789-0123456789"


def mastery(
    env: dict[str, str], *args: str, columns: int = 250
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli.main", *args],
        env=dict(os.environ, COLUMNS=str(columns), **env), capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip


def every_command(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group's path (typer builds on its own copy of click's classes)."""
    found = [path]
    for name, sub in getattr(command, "commands", {}).items():
        found += every_command(sub, (*path, name))
    return found


def test_version_is_the_installed_package_version() -> None:
    result = mastery({}, "--version")

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"mastery {version('mastery-engine')}\n"


def test_no_help_labels_a_flag_as_taking_a_value() -> None:
    commands = every_command(typer.main.get_command(app))
    assert len(commands) > 15
    runner = CliRunner()
    for path in commands:  # in-process: one interpreter start per command would take a minute
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "100"})
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output, (path, result.output)
        assert re.search(r"^\s+--help\s+Show this message", result.output, re.M), path

    replay = mastery({}, "replay", "--help").stdout
    assert re.search(r"^\s+--full\s+Each step", replay, re.M), replay
    assert re.search(r"^\s+--serve / --no-serve\s", mastery({}, "demo", "--help").stdout, re.M)


def test_demo_days_help_says_what_the_number_is() -> None:
    help_text = " ".join(mastery({}, "demo", "--help").stdout.split())

    assert "--days DAYS Days of history to generate, ending today" in help_text
    assert "Weeks" not in help_text


def test_token_dashboard_link_carries_the_token_in_the_fragment() -> None:
    env = {"MASTERY_JWT_SECRET": SECRET, "MASTERY_HTTP_HOST": "localhost"}
    env["MASTERY_HTTP_PORT"] = "8765"
    result = mastery(
        env, "token", "--role", "teacher", "--sub", "t1", "--classes", "c1", "--dashboard-link"
    )

    assert result.returncode == 0, result.stderr
    link = result.stdout.strip()
    prefix = "http://localhost:8765/dashboard/#token="
    assert link.startswith(prefix) and "\n" not in link
    claims = jwt.decode(link[len(prefix) :], SECRET, algorithms=["HS256"])
    assert (claims["role"], claims["sub"], claims["classes"]) == ("teacher", "t1", ["c1"])


def test_the_demo_banner_prints_urls_and_links_whole_and_logs_one_format(
    database_url: str, redis_server_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    env = {
        "MASTERY_DATABASE_URL": database_url,
        "MASTERY_REDIS_URL": redis_server_url,
        "MASTERY_REDIS_PREFIX": redis_prefix,
        "MASTERY_DATA_DIR": str(tmp_path / "data"),
        "MASTERY_HTTP_PORT": "8766",
    }

    result = mastery(env, "demo", "--no-serve", "--students", "3", "--days", "3", columns=40)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "OpenAPI        http://127.0.0.1:8766/openapi.json" in lines
    links = [line.strip() for line in lines if "/dashboard/#token=" in line]
    assert len(links) == 3  # admin, teacher, student
    secret = json.loads((tmp_path / "data" / "demo-secrets.json").read_text())["jwt_secret"]
    roles = []
    for link in links:
        assert link.startswith("http://127.0.0.1:8766/dashboard/#token=")
        token = link.split("#token=")[1]
        roles.append(jwt.decode(token, secret, algorithms=["HS256"])["role"])
    assert roles == ["admin", "teacher", "student"]
    for line in result.stderr.splitlines():  # warnings and errors only, as JSON lines
        json.loads(line)


def history(days: int) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"p{n:03d}",
            "timestamp": f"2026-02-{1 + n % days:02d}T{n // days:02d}:00:00Z",
            "tenant_id": "t-polish",
            "student_id": "pat",
            "component": "quiz",
            "topic": f"topic-{n % 7}",
            "data": {"total_questions": 10, "correct_answers": n % 11},
        }
        for n in range(120)
    ]


def test_replay_pages_the_table_and_streams_json_and_json_lines(
    database_url: str, tmp_path: Path
) -> None:
    env = {"MASTERY_DATABASE_URL": database_url}
    source = write_jsonl(tmp_path / "events.jsonl", history(days=20))
    assert mastery(env, "backfill", str(source)).returncode == 0
    replay = ("replay", "pat", "--tenant", "t-polish", "--as-of", "2026-03-01")

    table = mastery(env, *replay)
    raw = mastery(env, *replay, "--format", "json").stdout
    document = json.loads(raw)
    lines = mastery(env, *replay, "--format", "jsonl", "--limit", "30").stdout.splitlines()
    after = json.loads(lines[-1])
    cursor = mastery(env, *replay, "--format", "json", "--limit", "30").stdout
    rest = json.loads(
        mastery(env, *replay, "--format", "json", "--after", json.loads(cursor)["next"]).stdout
    )

    assert table.returncode == 0, table.stderr
    assert "120 steps; shown: steps 71-120" in table.stdout
    assert raw.startswith('{"tenant_id": "t-polish", "student_id": "pat", "as_of": "2026-03-01", ')
    assert raw.count("\n") == 122  # a line per step, one for the tail, one at the end
    assert [s["step"] for s in document["steps"]] == list(range(1, 121))
    assert document["step_count"] == 120 and document["next"] is None
    assert document["mastery"]["event_count"] == 120
    assert set(document["steps"][0]) == {
        "step", "event_id", "timestamp", "component", "topic", "mastery_score", "level",
        "topic_score", "level_change",
    }  # fmt: skip
    assert [json.loads(line) for line in lines] == document["steps"][:30]
    assert after["step"] == 30
    assert rest["steps"] == document["steps"][30:]
    bad = mastery(env, *replay, "--after", "yesterday")
    assert bad.returncode == 2 and "--after must be the `next` cursor" in bad.stderr
