"""Bad usage of the ``mastery`` CLI as an operator meets it (SPEC §8): exit code 2 and one clear
message naming the flag or file and what is wrong; never a traceback, an ``[Errno N]`` or the
name of an internal temporary file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from infrastructure.event_store.keys import MasterKey
from infrastructure.synthetic import CohortShape, cohort_events
from tests.support import write_jsonl

# Nothing listens here: a command that gets past its usage checks fails fast with exit 1
# instead of starting embedded servers, so a missing check cannot pass for a usage error.
UNREACHABLE = {
    "MASTERY_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/nowhere",
    "MASTERY_REDIS_URL": "redis://127.0.0.1:9/0",
}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def mastery(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli.main", *args],
        env=dict(os.environ, COLUMNS="250", **env), capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip


@pytest.fixture
def offline(tmp_path: Path) -> dict[str, str]:
    return {**UNREACHABLE, "MASTERY_DATA_DIR": str(tmp_path / "data")}


def assert_usage_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert_clear(result, *fragments)


def assert_clear(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    message = " ".join(result.stderr.split())  # a long message may wrap in its box
    for fragment in fragments:
        assert fragment in message, (fragment, result.stderr)
    for internal in ("Traceback", "Errno", ".part"):
        assert internal not in result.stderr, result.stderr


def test_audit_export_refuses_from_after_to(offline: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "export"
    result = mastery(
        offline, "audit", "export", "--out", str(out), "--from", "2026-02-01", "--to", "2026-01-01"
    )
    assert_usage_error(result, "--from 2026-02-01 is after --to 2026-01-01")
    assert not out.exists()


@pytest.mark.parametrize(
    ("flag", "value", "reason"),
    [
        ("--from", "2026-13-01", "month must be in 1..12"),
        ("--to", "2026-02-30", "day is out of range for month"),
        ("--from", "20260101", ""),
        ("--to", "yesterday", ""),
    ],
)
def test_a_bad_date_names_its_flag_and_the_format(
    offline: dict[str, str], tmp_path: Path, flag: str, value: str, reason: str
) -> None:
    result = mastery(offline, "audit", "export", "--out", str(tmp_path / "x"), flag, value)
    assert_usage_error(result, f"'{flag}'", f"'{value}' is not a date YYYY-MM-DD", reason)


def test_audit_export_out_must_be_a_new_or_empty_folder(
    offline: dict[str, str], tmp_path: Path
) -> None:
    existing = tmp_path / "report.txt"
    existing.write_text("keep me")
    result = mastery(offline, "audit", "export", "--out", str(existing))
    assert_usage_error(result, "'--out'", f"{existing}: is a file")
    under_a_file = existing / "export"
    result = mastery(offline, "audit", "export", "--out", str(under_a_file))
    assert_usage_error(result, "'--out'", f"{existing} is a file, not a folder")
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "manifest.json").write_text("{}")
    result = mastery(offline, "audit", "export", "--out", str(earlier))
    assert_usage_error(result, "'--out'", f"{earlier}: folder is not empty")
    assert existing.read_text() == "keep me"
    assert (earlier / "manifest.json").read_text() == "{}"


def test_audit_export_flags_that_do_not_go_together_or_exist(
    offline: dict[str, str], tmp_path: Path
) -> None:
    out = str(tmp_path / "x")
    result = mastery(
        offline, "audit", "export", "--out", out, "--student", "s1", "--to", "2026-01-01"
    )
    assert_usage_error(result, "--from and --to do not apply with --student")
    assert_usage_error(
        mastery(offline, "audit", "export", "--out", out, "--format", "xml"), "'--format'"
    )


def test_audit_verify_of_a_missing_folder_says_it_does_not_exist(
    offline: dict[str, str], tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-export"
    assert_usage_error(
        mastery(offline, "audit", "verify", str(missing)), f"{missing}: no such folder"
    )
    a_file = tmp_path / "manifest.json"
    a_file.write_text("{}")
    assert_usage_error(mastery(offline, "audit", "verify", str(a_file)), f"{a_file}: is a file")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_usage_error(
        mastery(offline, "audit", "verify", str(empty)), f"{empty}: not an export folder"
    )


def test_audit_verify_refuses_a_manifest_naming_files_outside_the_folder(
    offline: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    entry = {"columns": ["a"], "records": 0, "chain": "", "sha256": ""}
    manifest = {"format": "jsonl", "files": {"../secret.jsonl": entry}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    result = mastery(offline, "audit", "verify", str(folder))
    assert_usage_error(result, "not a readable manifest", "'../secret.jsonl'")


VALID = {
    "event_id": "e1",
    "timestamp": "2026-02-01T10:00:00Z",
    "tenant_id": "t1",
    "student_id": "alice",
    "component": "completion",
    "data": {"total_exercises": 10, "completed_exercises": 8},
}


def test_backfill_rejects_file_must_be_writable_and_not_an_input(
    offline: dict[str, str], tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "events.jsonl", [VALID])
    original = source.read_text()
    missing = tmp_path / "missing" / "rejects.jsonl"
    result = mastery(offline, "backfill", str(source), "--rejects", str(missing))
    assert_usage_error(result, "'--rejects'", f"{missing}: folder {missing.parent} does not exist")
    result = mastery(offline, "backfill", str(source), "--rejects", str(tmp_path))
    assert_usage_error(result, "'--rejects'", f"{tmp_path}: is a folder")
    result = mastery(offline, "backfill", str(source), "--rejects", str(source))
    assert_usage_error(result, f"--rejects {source} is an input file")
    earlier = tmp_path / "events.jsonl.rejects.jsonl"
    earlier.write_text("{}\n")
    result = mastery(offline, "backfill", str(source), str(earlier))
    assert_usage_error(result, f"its rejects file {earlier} is an input file")
    assert source.read_text() == original
    assert earlier.read_text() == "{}\n"


def test_backfill_input_must_be_a_readable_file(offline: dict[str, str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    assert_usage_error(mastery(offline, "backfill", str(missing)), f"{missing}: no such file")
    folder = tmp_path / "folder.jsonl"
    folder.mkdir()
    assert_usage_error(mastery(offline, "backfill", str(folder)), f"{folder}: is a folder")


def test_token_private_key_must_be_a_readable_pem_file(
    offline: dict[str, str], tmp_path: Path
) -> None:
    def token(key: Path) -> subprocess.CompletedProcess[str]:
        return mastery(offline, "token", "--role", "admin", "--sub", "a", "--private-key", str(key))

    assert_usage_error(token(tmp_path / "none.pem"), "'--private-key'", "no such file")
    assert_usage_error(token(tmp_path), "'--private-key'", "is a folder")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    assert_usage_error(token(garbage), f"--private-key {garbage}: not an unencrypted PEM")


def test_demo_with_damaged_secrets_says_which_file(offline: dict[str, str], tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "demo-secrets.json").write_text("{not json")
    result = mastery(offline, "demo", "--no-serve")
    assert result.returncode == 2, result.stderr  # bad configuration
    assert_clear(result, f"{data / 'demo-secrets.json'} is damaged")


def test_replay_of_an_erased_student_says_so_in_the_users_terms(
    database_url: str, redis_server_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    env = {
        "MASTERY_DATABASE_URL": database_url,
        "MASTERY_REDIS_URL": redis_server_url,
        "MASTERY_REDIS_PREFIX": redis_prefix,
        "MASTERY_MASTER_KEY": MasterKey.generate(),
        "MASTERY_DATA_DIR": str(tmp_path / "data"),
    }
    events = list(cohort_events(CohortShape(students=2, events=40, tenant_id="cli")))
    assert mastery(env, "backfill", str(write_jsonl(tmp_path / "e.jsonl", events))).returncode == 0
    assert mastery(env, "erase", "s00001", "--tenant", "cli").returncode == 0

    for extra in ((), ("--check",), ("--format", "json")):
        replay = mastery(env, "replay", "s00001", "--tenant", "cli", *extra)
        unknown = mastery(env, "replay", "nobody", "--tenant", "cli", *extra)
        assert replay.returncode == unknown.returncode == 1, (replay.stderr, unknown.stderr)
        assert_clear(replay, "student 's00001' in tenant 'cli' has been erased")
        assert not UUID.search(replay.stderr), replay.stderr


def test_audit_verify_reports_a_file_of_garbage_bytes_as_altered(
    database_url: str, redis_server_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    env = {
        "MASTERY_DATABASE_URL": database_url,
        "MASTERY_REDIS_URL": redis_server_url,
        "MASTERY_REDIS_PREFIX": redis_prefix,
        "MASTERY_DATA_DIR": str(tmp_path / "data"),
    }
    events = list(cohort_events(CohortShape(students=2, events=20, tenant_id="cli")))
    assert mastery(env, "backfill", str(write_jsonl(tmp_path / "e.jsonl", events))).returncode == 0
    out = tmp_path / "export"
    exported = mastery(env, "audit", "export", "--tenant", "cli", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    lines = (out / "events.jsonl").read_bytes().splitlines(keepends=True)
    (out / "events.jsonl").write_bytes(b"".join([*lines[:4], b"\xff\xfe garbage\n", *lines[5:]]))
    broken = mastery(env, "audit", "verify", str(out))
    assert broken.returncode == 1, broken.stderr
    assert "events.jsonl line 5" in broken.stdout
    assert_clear(broken)


@pytest.mark.parametrize("command", ["serve", "run", "consume", "publish"])
def test_an_unknown_log_level_is_a_usage_error(offline: dict[str, str], command: str) -> None:
    result = mastery(offline, command, "--log-level", "loud")
    assert_usage_error(result, "'--log-level'", "'loud' is not a log level")
