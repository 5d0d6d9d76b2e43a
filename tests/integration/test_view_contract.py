"""One contract, two views: the in-memory reference and Redis behave the same."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from eventsourcing.persistence import Tracking

from infrastructure.redis_views.keys import Keys
from infrastructure.redis_views.view import RedisMasteryView
from projections.memory_view import InMemoryMasteryView
from projections.view import PROJECTION_NAME, MasteryView, StudentKey, StudentUpdate

ALICE = StudentKey("t-one", "alice")
BOB = StudentKey("t-one", "bob")
CAROL = StudentKey("t-two", "carol")
D1, D2 = date(2026, 3, 1), date(2026, 3, 2)


@pytest.fixture(params=["memory", "redis"])
def view(request: pytest.FixtureRequest) -> Iterator[MasteryView]:
    if request.param == "memory":
        yield InMemoryMasteryView()
        return
    client = request.getfixturevalue("redis_connect")(request.getfixturevalue("redis_settings"))
    prefix = request.getfixturevalue("redis_prefix")
    yield RedisMasteryView(client, Keys(prefix), snapshot_ttl_days=0)


def update(
    key: StudentKey, position: int, score: float, classes: tuple[str, ...] = ("c1",)
) -> StudentUpdate:
    return StudentUpdate(
        key=key,
        position=position,
        current={"student_id": key.student_id, "mastery_score": score, "position": position},
        snapshots={
            D1: {"as_of": D1.isoformat(), "mastery_score": score / 2},
            D2: {"as_of": D2.isoformat(), "mastery_score": score},
        },
        activity_dates=(D1, D2),
        classes=classes,
        score=score,
    )


def test_applied_updates_can_be_read_back(view: MasteryView) -> None:
    view.apply([update(ALICE, 5, 0.8), update(BOB, 6, 0.4)], Tracking(PROJECTION_NAME, 6))
    assert view.current(ALICE) == {"student_id": "alice", "mastery_score": 0.8, "position": 5}
    assert view.snapshots(ALICE, [D1, D2, date(2026, 3, 3)]) == {
        D1: {"as_of": "2026-03-01", "mastery_score": 0.4},
        D2: {"as_of": "2026-03-02", "mastery_score": 0.8},
    }
    assert view.activity_dates(ALICE) == [D1, D2]
    assert view.class_roster("t-one", "c1").members == [("bob", 0.4), ("alice", 0.8)]
    assert view.tenant_roster("t-one").members == [("bob", 0.4), ("alice", 0.8)]
    assert view.projected_positions([ALICE, BOB, CAROL]) == {ALICE: 5, BOB: 6, CAROL: 0}
    assert view.max_tracking_id(PROJECTION_NAME) == 6


def test_an_update_already_applied_changes_nothing(view: MasteryView) -> None:
    view.apply([update(ALICE, 5, 0.8)], Tracking(PROJECTION_NAME, 5))
    view.apply([update(ALICE, 5, 0.1), update(ALICE, 3, 0.2)], Tracking(PROJECTION_NAME, 5))
    assert view.current(ALICE) == {"student_id": "alice", "mastery_score": 0.8, "position": 5}
    assert view.snapshots(ALICE, [D2])[D2]["mastery_score"] == 0.8


def test_the_projector_position_only_moves_forward(view: MasteryView) -> None:
    view.apply([], Tracking(PROJECTION_NAME, 10))
    view.apply([], Tracking(PROJECTION_NAME, 7))
    view.insert_tracking(Tracking(PROJECTION_NAME, 8))
    assert view.max_tracking_id(PROJECTION_NAME) == 10
    assert view.max_tracking_id("other") is None


def test_dropping_a_student_leaves_the_others(view: MasteryView) -> None:
    view.apply([update(ALICE, 5, 0.8), update(BOB, 6, 0.4)], None)
    view.drop_student(ALICE, ["c1"])
    assert view.current(ALICE) is None
    assert view.snapshots(ALICE, [D1, D2]) == {}
    assert view.projected_positions([ALICE]) == {ALICE: 0}
    assert view.class_roster("t-one", "c1").members == [("bob", 0.4)]
    assert view.current(BOB) is not None


def test_dropping_a_tenant_leaves_other_tenants(view: MasteryView) -> None:
    view.apply([update(ALICE, 5, 0.8), update(CAROL, 6, 0.5)], Tracking(PROJECTION_NAME, 6))
    view.drop_all("t-one")
    assert view.current(ALICE) is None
    assert view.tenant_roster("t-one").members == []
    assert view.current(CAROL) is not None
    assert view.max_tracking_id(PROJECTION_NAME) == 6
    view.drop_all()
    assert view.current(CAROL) is None
    assert view.max_tracking_id(PROJECTION_NAME) is None


def test_an_erased_student_is_gone_and_no_later_update_brings_them_back(
    view: MasteryView,
) -> None:
    view.apply([update(ALICE, 5, 0.8, ("c1", "c9")), update(BOB, 6, 0.4)], None)
    view.erase_student(ALICE, ["c1"])  # c9 is known only from her documents
    view.apply([update(ALICE, 9, 0.9, ("c1", "c9", "c10"))], Tracking(PROJECTION_NAME, 9))
    assert view.is_erased(ALICE) and not view.is_erased(BOB)
    assert view.current(ALICE) is None
    assert view.snapshots(ALICE, [D1, D2]) == {}
    assert view.activity_dates(ALICE) == []
    for class_id in ("c1", "c9", "c10"):
        assert "alice" not in dict(view.class_roster("t-one", class_id).members), class_id
    assert view.tenant_roster("t-one").members == [("bob", 0.4)]
    assert view.max_tracking_id(PROJECTION_NAME) == 9


def test_an_erasure_outlives_dropping_and_rebuilding_the_read_models(view: MasteryView) -> None:
    view.apply([update(ALICE, 5, 0.8)], None)
    view.erase_student(ALICE, [])
    view.drop_student(ALICE, ["c1"])
    view.drop_all("t-one")
    view.drop_all()
    view.apply([update(ALICE, 5, 0.8)], None)
    assert view.is_erased(ALICE)
    assert view.current(ALICE) is None
    assert view.class_roster("t-one", "c1").members == []


def test_a_tenants_classes_are_listed_from_the_rosters_written(view: MasteryView) -> None:
    view.apply(
        [update(ALICE, 5, 0.8, ("c2", "c1")), update(BOB, 6, 0.4, ("c1",))],
        Tracking(PROJECTION_NAME, 6),
    )
    view.apply([update(CAROL, 7, 0.5, ("c3",))], Tracking(PROJECTION_NAME, 7))

    assert view.class_ids("t-one") == ["c1", "c2"]
    assert view.class_ids("t-two") == ["c3"]
    assert view.class_ids("t-none") == []
    assert view.classes_of([ALICE, BOB, CAROL, StudentKey("t-one", "nobody")]) == {
        ALICE: ["c1", "c2"],
        BOB: ["c1"],
        CAROL: ["c3"],
        StudentKey("t-one", "nobody"): [],
    }


def test_a_class_whose_roster_empties_is_no_longer_listed(view: MasteryView) -> None:
    view.apply(
        [update(ALICE, 5, 0.8, ("c1", "c2")), update(BOB, 6, 0.4, ("c1",))],
        Tracking(PROJECTION_NAME, 6),
    )

    view.drop_student(ALICE, ["c1", "c2"])
    assert view.class_ids("t-one") == ["c1"]

    view.erase_student(BOB, [])  # c1 is known only from his documents
    assert view.class_ids("t-one") == []
    assert view.classes_of([BOB]) == {BOB: []}


def test_dropping_a_tenant_forgets_its_classes(view: MasteryView) -> None:
    view.apply(
        [update(ALICE, 5, 0.8, ("c1",)), update(CAROL, 7, 0.5, ("c3",))],
        Tracking(PROJECTION_NAME, 7),
    )

    view.drop_all("t-one")
    assert view.class_ids("t-one") == []
    assert view.class_ids("t-two") == ["c3"]

    view.drop_all()
    assert view.class_ids("t-two") == []
