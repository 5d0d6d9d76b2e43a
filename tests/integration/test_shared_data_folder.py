"""Two owners of one data folder never coexist: a second user attaches, and the owner waits for
it before stopping anything (SPEC §8). The servers are the test's own, under its own folder."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from infrastructure.embedded.server import EmbeddedServerError
from infrastructure.embedded.servers import EmbeddedServers

REPO_ROOT = Path(__file__).resolve().parents[2]


def accepts_connections(url: str) -> bool:
    port = urlsplit(url).port
    assert port is not None
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def start_owner(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    """Another process owning the folder's PostgreSQL until its stdin closes."""
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from infrastructure.embedded.servers import EmbeddedServers
        servers = EmbeddedServers(Path({str(data_dir)!r}), redis=False, kafka=False)
        print(servers.start().database_url, flush=True)
        sys.stdin.read()
        servers.stop()
        print("stopped", flush=True)
        """
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None
    return owner, owner.stdout.readline().strip()


def test_a_user_attaches_and_the_owner_waits_for_it_before_stopping(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    owner, owners_url = start_owner(data_dir)
    assert owner.stdin is not None and owner.stdout is not None
    try:
        user = EmbeddedServers(data_dir, redis=False, kafka=False)
        urls = user.start()
        assert user.attached
        assert urls.database_url == owners_url
        with pytest.raises(EmbeddedServerError, match="only its owner"):
            user.restart_postgres()

        owner.stdin.close()  # the owner is asked to stop while we still use its server
        time.sleep(2)
        assert owner.poll() is None
        with psycopg.connect(owners_url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)

        user.stop()  # the last user lets go: only now does the owner stop its server
        assert owner.stdout.readline().strip() == "stopped"
        assert owner.wait(30) == 0
        assert not accepts_connections(owners_url)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        owner.stdout.close()


def test_a_user_needing_a_server_the_owner_did_not_start_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    owner, owners_url = start_owner(data_dir)
    assert owner.stdin is not None and owner.stdout is not None
    try:
        with pytest.raises(EmbeddedServerError, match="MASTERY_REDIS_URL"):
            EmbeddedServers(data_dir, kafka=False).start()
        assert accepts_connections(owners_url)
    finally:
        owner.stdin.close()
        assert owner.wait(30) == 0
        owner.stdout.close()
    assert not accepts_connections(owners_url)
