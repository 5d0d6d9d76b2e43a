"""Black-box capture of everything the Mastery Engine shows the outside world.

For refactors that must not change behaviour: run this script on the code before and after the
change, then compare the two capture folders with ``diff -r BEFORE AFTER`` (they must be
identical). Only black-box interfaces are used: the ``mastery`` CLI in subprocesses, the HTTP
API of a ``mastery serve`` subprocess, and the Redis documents read with redis-py.

Usage, from a checkout's root::

    MASTERY_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    MASTERY_REDIS_URL=redis://127.0.0.1:6379/11 \\
    python tests/capture_outputs.py OUTDIR [--database capture_outputs]

The script drops and creates the scratch database ``--database`` on the server of
MASTERY_DATABASE_URL (dropped again at the end), flushes the Redis database of
MASTERY_REDIS_URL, seeds a fixed cohort with fixed dates, and writes one file per observation
into OUTDIR. Subprocesses run from a scratch folder (so relative paths in the output do not
depend on where it is) with this checkout prepended to PYTHONPATH.

Outputs that depend on the calendar date (reads without ``as_of``, ``replay`` without
``--as-of``, the retention cutoff, snapshot expiry) are left as they are: compare two captures
made on the same UTC day.

Normalisations (values that differ between two runs of the same code; each is replaced by
``<masked>``; nothing else is changed):

* JSON keys ``created_at`` (audit manifest header) and ``exported_at`` (subject exports): the
  time the export was made.
* JSON keys ``header_sha256``, ``chain`` and ``sha256`` (audit manifests and export records,
  CSV column ``chain``): every hash chain starts from the digest of the manifest header,
  which holds ``created_at``. That the chains are consistent is captured by ``audit verify``
  instead.
* JSON key ``recorded_at`` and CSV column ``recorded_at`` (audit exports): when the event
  store recorded the event.
* JSON keys ``at`` and ``id``, CSV columns ``at`` and ``id`` of access-log records: when the
  request was served, and a sequence number whose gaps depend on how the writer batched.
* JSON keys ``lag_seconds``, ``seconds_since_progress``, ``seconds_since_batch`` and the
  ``lag (seconds)`` cell of ``projections status``: wall-clock durations; JSON key ``lag`` (a
  worker's backlog in ``/v1/status``: null or 0 depending on whether it has written yet).
* The ``manifest sha256`` printed by ``audit export`` and passed back to ``audit verify
  --manifest-sha256`` in the captured command line (the manifest holds ``created_at``).
* Redis ``erased:*`` strings: the erasure time (epoch seconds).
* ``mastery token``: the token itself is not kept; its decoded header and claims are, with
  ``iat``, ``nbf`` and ``exp`` masked (minted "now").
* ``/metrics``: sample values of the ``process_*``, ``python_gc_*`` families and of every
  family whose name contains ``_seconds`` (CPU, memory, latencies); names and labels are kept.

Request ids are not masked: every request sends a fixed ``X-Request-ID``. Before each
``GET .../export`` the script waits (polling the scratch database, not captured) until the
access log holds every earlier guarded request, since a background thread writes it.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import csv
import http.client
import io
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infrastructure.synthetic import CohortShape, cohort_events  # noqa: E402

MASTER_KEY = base64.b64encode(bytes(range(32))).decode()
JWT_SECRET = "capture-outputs-jwt-secret-0123456789abcdef"
TENANT = "acme"
OTHER_TENANT = "globex"
MASK = "<masked>"
CLI_TIMEOUT = 120
ACCESS_LOG_WAIT = 30.0
GUARDED = ("/v1/students/", "/v1/classes/")
MASKED_JSON_KEYS = (
    "created_at",
    "exported_at",
    "recorded_at",
    "header_sha256",
    "chain",
    "sha256",
    "at",
    "id",
    "lag",
    "lag_seconds",
    "seconds_since_progress",
    "seconds_since_batch",
)
MASKED_CSV_COLUMNS = ("at", "chain", "id", "recorded_at")
_JSON_VALUE = r'("(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*|null)'
_MASKED_JSON = re.compile(r'("(?:' + "|".join(MASKED_JSON_KEYS) + r')":\s*)' + _JSON_VALUE)
_MANIFEST_SHA = re.compile(r"(manifest[ -]sha256:? )[0-9a-f]{64}")
_TIMED_METRIC = re.compile(r"^(process_|python_gc_|[a-z_]*_seconds)")


# --- normalisation ------------------------------------------------------------------------------


def mask_text(text: str) -> str:
    """Mask the run-time values listed in the module docstring in JSON-ish or CLI text."""
    text = _MASKED_JSON.sub(lambda m: f'{m.group(1)}"{MASK}"', text)
    return _MANIFEST_SHA.sub(rf"\g<1>{MASK}", text)


def mask_status_table(text: str) -> str:
    """The last cell of the ``projections status`` table row is a wall-clock lag."""
    return re.sub(r"(│ +mastery .*│ +)[0-9]+\.[0-9]{3}( │)", rf"\g<1>{MASK}\2", text)


def mask_csv(text: str) -> str:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        return text
    masked = [i for i, name in enumerate(rows[0]) if name in MASKED_CSV_COLUMNS]
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(rows[0])
    for row in rows[1:]:
        writer.writerow([MASK if i in masked else cell for i, cell in enumerate(row)])
    return out.getvalue()


def mask_metrics(text: str) -> str:
    lines = []
    for line in text.splitlines():
        timed = not line.startswith("#") and _TIMED_METRIC.match(line)
        lines.append(line.rsplit(" ", 1)[0] + " " + MASK if timed else line)
    return "\n".join(lines) + "\n"


def token_claims(token: str) -> str:
    """The decoded header and claims of a JWT, minted-now times masked."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        return f"not a JWT: {token!r}\n"
    decoded = [json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in parts[:2]]
    for name in ("iat", "nbf", "exp"):
        if name in decoded[1]:
            decoded[1][name] = MASK
    return json.dumps({"header": decoded[0], "claims": decoded[1]}, indent=2, sort_keys=True)


# --- the cohort ---------------------------------------------------------------------------------


def cohort_lines() -> list[str]:
    """~30 students over 3 classes in one tenant, a few in another, an idle student, and lines
    that are invalid, duplicated, or conflicting duplicates. Fixed dates."""
    shape = CohortShape(
        students=30, classes=3, days=10, tenant_id=TENANT, end=date(2026, 11, 20), seed=11
    )
    events = list(cohort_events(shape))
    other = CohortShape(
        students=3, classes=1, days=4, tenant_id=OTHER_TENANT, end=date(2026, 11, 18), seed=5
    )
    events += list(cohort_events(other))
    events += _idle_student()
    lines = [json.dumps(event, sort_keys=True) for event in events]
    conflicting = {**events[3], "data": {**events[3]["data"]}}
    conflicting["topic"] = "python.conflict"
    return [
        *lines,
        lines[0],  # an exact duplicate
        json.dumps(conflicting, sort_keys=True),  # same event_id, other content
        *_invalid_lines(events[0]),
    ]


def _idle_student() -> list[dict[str, Any]]:
    """A student whose only activity is long ago (for retention)."""
    return [
        {
            "event_id": f"idle-{n}",
            "event_type": "mastery.calculation.requested",
            "timestamp": f"2025-0{n}-15T10:00:00Z",
            "tenant_id": TENANT,
            "student_id": "idle01",
            "class_id": "class-00",
            "component": "quiz",
            "topic": "python.basics",
            "data": {"total_questions": 10, "correct_answers": 5 + n},
            "metadata": {"source": "quiz-agent"},
        }
        for n in (1, 2)
    ]


def _invalid_lines(valid: dict[str, Any]) -> list[str]:
    def variant(**changes: Any) -> str:
        return json.dumps({**valid, "event_id": "bad-" + str(len(changes)), **changes})

    missing = {k: v for k, v in valid.items() if k != "student_id"}
    return [
        "{not json",
        "[1, 2, 3]",
        json.dumps({**missing, "event_id": "bad-missing-student"}),
        variant(component="telepathy", event_id="bad-component"),
        variant(timestamp="2026-13-45T00:00:00Z", event_id="bad-timestamp"),
        variant(timestamp="2099-01-01T00:00:00Z", event_id="bad-future"),
        variant(
            component="quiz",
            data={"total_questions": 5, "correct_answers": 9},
            event_id="bad-quiz",
        ),
        variant(student_id="has space", event_id="bad-student-id"),
        "",
    ]


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Capture:
    out: Path
    work: Path
    env: dict[str, str]
    counter: int = 0
    server: subprocess.Popen[bytes] | None = None
    port: int = 0
    tokens: dict[str, str] = field(default_factory=dict)
    request_number: int = 0
    guarded: int = 0  # requests to routes that write an access-log entry

    def path(self, group: str, name: str) -> Path:
        self.counter += 1
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[:120]
        target = self.out / group / f"{self.counter:03d}-{slug}"
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    # --- CLI ---

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "api.cli.main", *args],
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )

    def cli(self, *args: str, name: str | None = None, table_lag: bool = False) -> str:
        """Run ``mastery ARGS`` and keep its command line, exit code, stdout and stderr."""
        done = self.run(*args)
        text = (
            f"$ mastery {shlex.join(args)}\nexit: {done.returncode}\n"
            f"--- stdout ---\n{done.stdout}--- stderr ---\n{done.stderr}"
        )
        text = mask_text(text)
        if table_lag:
            text = mask_status_table(text)
        self.path("cli", name or " ".join(args)).with_suffix(".txt").write_text(text)
        return done.stdout

    def token(self, label: str, *args: str) -> None:
        done = self.run("token", *args)
        token = done.stdout.strip()
        text = f"$ mastery token {shlex.join(args)}\nexit: {done.returncode}\n"
        text += f"--- decoded ---\n{token_claims(token) if done.returncode == 0 else ''}\n"
        text += f"--- stderr ---\n{done.stderr}"
        self.path("cli", f"token {label}").with_suffix(".txt").write_text(text)
        self.tokens[label] = token

    def folder(self, label: str, folder: Path) -> None:
        """Every file of an export folder, masked, into one capture file."""
        parts = []
        for file in sorted(folder.iterdir()):
            content = file.read_text(encoding="utf-8")
            content = mask_csv(content) if file.suffix == ".csv" else mask_text(content)
            parts.append(f"=== {file.name} ===\n{content}")
        self.path("files", label).with_suffix(".txt").write_text("".join(parts))

    # --- HTTP ---

    def request(
        self,
        method: str,
        target: str,
        token: str | None = None,
        body: bytes | None = None,
        content_type: str = "application/json",
        label: str = "",
    ) -> None:
        """One request with a fixed request id; keeps status, content-type and body bytes."""
        if target.endswith("/export"):
            self.wait_for_access_log()
        if target.startswith(GUARDED):
            self.guarded += 1
        self.request_number += 1
        headers = {"X-Request-ID": f"capture-{self.request_number:04d}"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            headers["Content-Type"] = content_type
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            kind = response.getheader("content-type", "")
        finally:
            connection.close()
        if target == "/metrics":
            payload = mask_metrics(payload.decode()).encode()
        else:
            payload = mask_text(payload.decode("utf-8", "backslashreplace")).encode()
        head = (
            f"{method} {target}\nas: {label}\nstatus: {response.status}\ncontent-type: {kind}\n\n"
        )
        self.path("http", f"{method} {target} {label}").with_suffix(".txt").write_bytes(
            head.encode() + payload + b"\n"
        )

    def wait_for_access_log(self) -> None:
        """Until every guarded request so far is in the access log (it is written by a
        background thread; a subject export lists it). Synchronisation only: not captured."""
        deadline = time.monotonic() + ACCESS_LOG_WAIT
        with psycopg.connect(self.env["MASTERY_DATABASE_URL"], autocommit=True) as connection:
            while time.monotonic() < deadline:
                row = connection.execute("SELECT count(*) FROM access_log").fetchone()
                if row is not None and row[0] >= self.guarded:
                    return
                time.sleep(0.05)
        print(f"warning: access log short of {self.guarded} entries", file=sys.stderr)

    # --- Redis ---

    def redis_dump(self, label: str) -> None:
        client = redis.Redis.from_url(self.env["MASTERY_REDIS_URL"])
        lines = [redis_entry(client, key) for key in sorted(client.scan_iter(count=1000))]
        client.close()
        self.path("redis", label).with_suffix(".txt").write_text("".join(lines))


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


def redis_entry(client: redis.Redis, key: bytes) -> str:
    kind = _text(client.type(key))
    ttl = "ttl" if client.ttl(key) >= 0 else "no-ttl"
    head = f"{_text(key)} [{kind}, {ttl}]"
    if kind == "string":
        value = MASK if _text(key).startswith("erased:") else _text(client.get(key) or b"")
        return f"{head} = {value}\n"
    if kind == "hash":
        fields = sorted(client.hgetall(key).items())
        return head + "\n" + "".join(f"  {_text(k)} = {_text(v)}\n" for k, v in fields)
    if kind == "zset":
        members = cast(list[tuple[bytes, float]], client.zrange(key, 0, -1, withscores=True))
        return head + "\n" + "".join(f"  {s!r} {_text(m)}\n" for m, s in members)
    if kind == "set":
        return head + "\n" + "".join(f"  {_text(m)}\n" for m in sorted(client.smembers(key)))
    if kind == "list":
        return head + "\n" + "".join(f"  {_text(m)}\n" for m in client.lrange(key, 0, -1))
    return f"{head} (unsupported type)\n"


# --- services -----------------------------------------------------------------------------------


def scratch_url(server_url: str, database: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def reset_database(server_url: str, database: str, create: bool = True) -> None:
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        if create:
            connection.execute(f'CREATE DATABASE "{database}"')


def flush_redis(url: str) -> None:
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def serving(capture: Capture) -> Iterator[None]:
    """``mastery serve`` on a free port, one worker, until the block ends (stopped by pid)."""
    capture.port = free_port()
    log = (capture.work / "serve.log").open("wb")
    command = [sys.executable, "-m", "api.cli.main", "serve", "--port", str(capture.port)]
    command += ["--workers", "1", "--log-level", "warning"]
    server = subprocess.Popen(command, cwd=capture.work, env=capture.env, stdout=log, stderr=log)
    try:
        _wait_healthy(capture.port, server)
        yield
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _wait_healthy(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"mastery serve exited with {server.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                connection.close()
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("mastery serve did not become healthy within 60 s")


def environment(database_url: str, redis_url: str, work: Path) -> dict[str, str]:
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env.update(
        {
            "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT),
            "MASTERY_DATABASE_URL": database_url,
            "MASTERY_REDIS_URL": redis_url,
            "MASTERY_MASTER_KEY": MASTER_KEY,
            "MASTERY_JWT_SECRET": JWT_SECRET,
            "MASTERY_DATA_DIR": str(work / "data"),
            "MASTERY_BACKFILL_WORKERS": "1",
            "MASTERY_HTTP_WORKERS": "1",
            "COLUMNS": "160",
            "LINES": "50",
            "TZ": "UTC",
            "NO_COLOR": "1",
        }
    )
    for name in ("MASTERY_KAFKA_BOOTSTRAP_SERVERS", "MASTERY_REDIS_PREFIX", "MASTERY_JWT_ISSUER"):
        env.pop(name, None)
    env.pop("MASTERY_JWT_AUDIENCE", None)
    env.pop("MASTERY_PREVIOUS_MASTER_KEYS", None)
    return env


# --- the scenario -------------------------------------------------------------------------------

STUDENTS = ("s00000", "s00001", "s00002")


def seed_and_project(capture: Capture) -> None:
    (capture.work / "cohort.jsonl").write_text("\n".join(cohort_lines()) + "\n")
    capture.cli("migrate")
    capture.cli("projections", "status", "--json", name="projections status json (empty)")
    capture.cli("backfill", "cohort.jsonl")
    capture.folder("backfill rejects", _only(capture.work, "cohort.jsonl.rejects.jsonl"))
    capture.cli("backfill", "cohort.jsonl", name="backfill again (idempotent)")
    capture.cli("backfill", "missing.jsonl")
    capture.cli("projections", "status", name="projections status (behind)", table_lag=True)
    capture.cli("projections", "rebuild")
    capture.cli("projections", "rebuild", "--tenant", TENANT, "--student", STUDENTS[0])
    capture.cli("projections", "rebuild", "--tenant", "Bad Tenant!")
    capture.cli("projections", "status", table_lag=True)
    capture.cli("projections", "status", "--json")
    capture.redis_dump("after rebuild")


def _only(work: Path, name: str) -> Path:
    """A folder holding just ``name`` (for ``Capture.folder``)."""
    folder = work / f"file-{name}"
    folder.mkdir(exist_ok=True)
    if (work / name).exists():
        shutil.copy(work / name, folder / name)
    return folder


def replays(capture: Capture, students: Sequence[str]) -> None:
    for student in students:
        for args in (
            (),
            ("--format", "json"),
            ("--as-of", "2026-11-15"),
            ("--as-of", "2026-11-15", "--format", "json"),
            ("--as-of", "2026-11-01"),
            ("--check",),
        ):
            capture.cli("replay", student, "--tenant", TENANT, *args)
    capture.cli("replay", "nobody", "--tenant", TENANT)
    capture.cli("replay", STUDENTS[0], "--tenant", TENANT, "--as-of", "15/11/2026")
    capture.cli("replay", "s00000", "--tenant", OTHER_TENANT, "--format", "json")


def store_checks(capture: Capture) -> None:
    capture.cli("store", "check")
    capture.cli("store", "check", "--json")
    capture.cli("store", "check", "--repair")
    capture.cli("store", "check", "--apply")


def audits(capture: Capture, stage: str) -> None:
    exports = {
        f"tenant {stage}": ("--tenant", TENANT),
        f"tenant csv range {stage}": (
            "--tenant",
            TENANT,
            "--format",
            "csv",
            "--from",
            "2026-11-15",
            "--to",
            "2026-11-17",
        ),
        f"other tenant {stage}": ("--tenant", OTHER_TENANT),
        f"subject {stage}": ("--tenant", TENANT, "--student", STUDENTS[1]),
    }
    for label, args in exports.items():
        folder = capture.work / re.sub(r"\W+", "-", f"export {label}")
        out = capture.cli("audit", "export", "--out", folder.name, *args, name=f"audit {label}")
        capture.folder(f"audit export {label}", folder)
        capture.cli("audit", "verify", folder.name, name=f"audit verify {label}")
        sha = re.search(r"manifest sha256: ([0-9a-f]{64})", out)
        if sha:
            capture.cli(
                "audit", "verify", folder.name, "--manifest-sha256", sha.group(1),
                name=f"audit verify sha {label}",
            )  # fmt: skip
    capture.cli("audit", "verify", "no-such-folder", name=f"audit verify missing {stage}")
    capture.cli(
        "audit", "export", "--out", f"x-{stage}", "--tenant", TENANT, "--from", "2026-11-20",
        "--to", "2026-11-01", name=f"audit export reversed range {stage}",
    )  # fmt: skip


def tamper_and_verify(capture: Capture) -> None:
    folder = capture.work / "export-tenant-before-http"
    events = folder / "events.jsonl"
    lines = events.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace('"acme"', '"acmf"', 1)
    events.write_text("".join(lines))
    capture.cli("audit", "verify", folder.name, name="audit verify tampered")


def mint_tokens(capture: Capture) -> None:
    capture.token("admin", "--role", "admin", "--sub", "ops", "--tenant", TENANT)
    capture.token("service", "--role", "service", "--sub", "agents", "--tenant", TENANT)
    capture.token("student", "--role", "student", "--sub", STUDENTS[0], "--tenant", TENANT)
    capture.token(
        "teacher", "--role", "teacher", "--sub", "t1", "--tenant", TENANT,
        "--classes", "class-00", "--students", STUDENTS[1],
    )  # fmt: skip
    capture.token("other admin", "--role", "admin", "--sub", "ops", "--tenant", OTHER_TENANT)
    capture.token("bad role", "--role", "janitor", "--sub", "x")


def http_ops(capture: Capture) -> None:
    admin = capture.tokens["admin"]
    for target in ("/healthz", "/readyz", "/openapi.json", "/metrics", "/nowhere"):
        capture.request("GET", target, label="anonymous")
    capture.request("GET", "/v1/status", admin, label="admin")
    capture.request("GET", "/v1/status", capture.tokens["student"], label="student")
    capture.request("GET", "/v1/status", label="anonymous")
    capture.request("GET", "/v1/status?x=1", admin, label="admin")


STUDENT_QUERIES = (
    "mastery",
    "mastery?as_of=2026-11-15",
    "mastery?as_of=2026-11-01",
    "mastery?as_of=2026-11-20&min_position=1",
    "mastery?as_of=2026-02-30",
    "mastery?as_of=2026-11-15&as_of=2026-11-16",
    "mastery?wait_ms=-1",
    "mastery?colour=blue",
    "mastery/history",
    "mastery/history?from=2026-11-12&to=2026-11-16",
    "mastery/history?from=2026-11-18&to=2026-11-12",
    "mastery/history?from=yesterday",
    "topics",
    "prediction",
    "prediction?days=30&as_of=2026-11-15",
    "prediction?days=0",
    "prediction?days=91",
    "recommendations",
    "events",
    "events?limit=5",
    "events?after=5&limit=5",
    "events?limit=0",
    "events?after=-1",
    "timeline",
    "export",
)


def http_students(capture: Capture) -> None:
    admin = capture.tokens["admin"]
    for student in STUDENTS:
        for query in STUDENT_QUERIES:
            capture.request("GET", f"/v1/students/{student}/{query}", admin, label="admin")
    tokens = capture.tokens
    for label in ("student", "teacher", "other admin", "service"):
        for student in STUDENTS[:2]:
            capture.request("GET", f"/v1/students/{student}/mastery", tokens[label], label=label)
    capture.request("GET", "/v1/students/s00003/mastery", tokens["teacher"], label="teacher")
    capture.request("GET", "/v1/students/nobody/mastery", admin, label="admin")
    capture.request("GET", "/v1/students/nobody/export", admin, label="admin")
    capture.request("GET", "/v1/students/bad%20id/mastery", admin, label="admin")
    capture.request("GET", "/v1/students/s00000/mastery", label="anonymous")
    capture.request("GET", "/v1/students/s00000/mastery", "not.a.token", label="garbage token")
    capture.request(
        "GET", f"/v1/students/{STUDENTS[0]}/mastery", tokens["other admin"], label="other tenant"
    )


def http_classes(capture: Capture) -> None:
    tokens = capture.tokens
    for class_id in ("class-00", "class-01", "class-02", "class-99", "bad class"):
        target = f"/v1/classes/{class_id.replace(' ', '%20')}/mastery"
        capture.request("GET", target, tokens["admin"], label="admin")
    capture.request("GET", "/v1/classes/class-00/mastery", tokens["teacher"], label="teacher")
    capture.request("GET", "/v1/classes/class-01/mastery", tokens["teacher"], label="teacher")
    capture.request("GET", "/v1/classes/class-00/mastery", tokens["student"], label="student")
    capture.request("GET", "/v1/classes/class-00/mastery?x=1", tokens["admin"], label="admin")


def _event(event_id: str, student: str, **changes: Any) -> dict[str, Any]:
    event = {
        "event_id": event_id,
        "event_type": "mastery.calculation.requested",
        "timestamp": "2026-11-19T12:00:00Z",
        "student_id": student,
        "class_id": "class-00",
        "component": "quiz",
        "topic": "python.loops",
        "data": {"total_questions": 10, "correct_answers": 8},
        "metadata": {"source": "quiz-agent"},
    }
    return {**event, **changes}


def http_ingest(capture: Capture) -> None:
    service = capture.tokens["service"]
    fresh = _event("http-1", STUDENTS[2])
    batch = [
        fresh,
        _event("http-2", "s00004", component="completion",
               data={"total_exercises": 10, "completed_exercises": 7}),
        fresh,
        {**fresh, "topic": "python.classes"},
        _event("http-3", STUDENTS[2], component="quiz", data={"total_questions": 0}),
        _event("http-4", STUDENTS[2], tenant_id=OTHER_TENANT),
        "not an object",
        _event("http-5", "bad id"),
    ]  # fmt: skip
    post = "POST"
    capture.request(
        post, "/v1/events", service, json.dumps({"events": batch}).encode(), label="batch"
    )
    single = json.dumps(_event("http-6", STUDENTS[2], topic="python.testing")).encode()
    capture.request(post, "/v1/events", service, single, label="single new")
    capture.request(post, "/v1/events", service, single, label="single duplicate")
    conflict = json.dumps(_event("http-6", STUDENTS[2], topic="python.basics")).encode()
    capture.request(post, "/v1/events", service, conflict, label="single conflict")
    invalid = json.dumps(_event("http-7", STUDENTS[2], component="x")).encode()
    capture.request(post, "/v1/events", service, invalid, label="single invalid")
    capture.request(post, "/v1/events", service, b"{not json", label="not json")
    capture.request(post, "/v1/events", service, b"[]", label="a list")
    capture.request(post, "/v1/events", service, b'{"events": 3}', label="events not list")
    capture.request(post, "/v1/events", service, single, "text/plain", label="text/plain")
    capture.request(post, "/v1/events", capture.tokens["admin"], single, label="admin")
    capture.request(post, "/v1/events", None, single, label="anonymous")
    capture.request("GET", "/v1/events", service, label="service")


def http_erase(capture: Capture) -> None:
    tokens = capture.tokens
    target = "/v1/students/s00005"
    capture.request("DELETE", target, tokens["student"], label="student")
    capture.request("DELETE", target, tokens["admin"], label="admin")
    capture.request("DELETE", target, tokens["admin"], label="admin again")
    for query in ("mastery", "events", "export"):
        capture.request("GET", f"{target}/{query}", tokens["admin"], label="admin after erase")


def http_phase(capture: Capture) -> None:
    with serving(capture):
        http_ops(capture)
        http_students(capture)
        http_classes(capture)
        http_ingest(capture)
        http_erase(capture)
        capture.request("GET", "/v1/status", capture.tokens["admin"], label="admin at the end")
    capture.redis_dump("after http")


def erase_phase(capture: Capture) -> None:
    erased = STUDENTS[1]
    capture.cli("erase", erased, "--tenant", TENANT, "--reason", "capture", "--requested-by", "me")
    capture.cli("erase", erased, "--tenant", TENANT, name="erase again")
    capture.cli("erase", "bad id", "--tenant", TENANT)
    capture.cli("replay", erased, "--tenant", TENANT, name="replay erased")
    capture.cli("replay", STUDENTS[0], "--tenant", TENANT, "--format", "json", name="replay kept")
    folder = capture.work / "export-erased"
    capture.cli("audit", "export", "--out", folder.name, "--tenant", TENANT, "--student", erased)
    capture.folder("audit export erased subject", folder)
    capture.cli("audit", "verify", folder.name, name="audit verify erased subject")
    capture.cli("store", "check", "--json", name="store check after erase")
    capture.cli("projections", "status", "--json", name="projections status after erase")
    capture.redis_dump("after erase")


def retention_phase(capture: Capture) -> None:
    capture.cli("retention", "apply", "--dry-run")
    capture.cli("retention", "apply")
    capture.cli("retention", "apply", "--dry-run", name="retention dry run after apply")
    capture.cli("projections", "rebuild", name="projections rebuild at the end")
    capture.cli("store", "check", name="store check at the end")
    capture.redis_dump("final")


def scenario(capture: Capture) -> None:
    seed_and_project(capture)
    replays(capture, STUDENTS)
    store_checks(capture)
    audits(capture, "before http")
    tamper_and_verify(capture)
    mint_tokens(capture)
    http_phase(capture)
    audits(capture, "after http")
    erase_phase(capture)
    retention_phase(capture)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--database", default="capture_outputs")
    args = parser.parse_args(argv)
    server_url = os.environ["MASTERY_DATABASE_URL"]
    redis_url = os.environ["MASTERY_REDIS_URL"]
    if args.outdir.exists():
        shutil.rmtree(args.outdir)
    args.outdir.mkdir(parents=True)
    reset_database(server_url, args.database)
    flush_redis(redis_url)
    with tempfile.TemporaryDirectory(prefix="capture-outputs-") as scratch:
        work = Path(scratch)
        env = environment(scratch_url(server_url, args.database), redis_url, work)
        capture = Capture(out=args.outdir, work=work, env=env)
        try:
            scenario(capture)
        finally:
            reset_database(server_url, args.database, create=False)
    print(f"captured {capture.counter} files into {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
