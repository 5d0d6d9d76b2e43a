"""The dashboard's reads against the in-memory view fed by the real projection: a day-by-day
history, the classes a caller may read, and the students it may find."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.facts import Component
from domain.mastery import mastery_as_of
from projections.directory import Directory, Scope, StudentFilter
from projections.view import StudentKey
from tests.unit.projections.recorded import learning
from tests.unit.projections.test_queries import ALICE, TODAY, Cohort, cohort, day

CAROL = StudentKey("t-one", "Carol-2")
DAN = StudentKey("t-two", "dan")
TENANT = Scope("t-one", everyone=True)


def school() -> Cohort:
    """Alice (strong) and Bob (at risk) in c1; Carol, strong, in c1 and c2; Dan elsewhere."""
    built = cohort(projected=False)
    built.record(
        CAROL,
        learning("c1", day(4), Component.QUIZ, class_id="c2"),
        learning("c2", day(5), Component.COMPLETION),
        learning("c3", day(6), Component.QUALITY, class_id="c2"),
        learning("c4", day(7), Component.CONSISTENCY, class_id="c2"),
    )
    built.record(DAN, learning("d1", day(4), Component.QUIZ, class_id="c1"))
    built.project()
    return built


# --- history, one point per day ----------------------------------------------------------------


@pytest.mark.parametrize("projected", [True, False], ids=["read_model", "replay"])
def test_a_filled_history_has_every_day_from_the_first_activity_carried_forward(
    projected: bool,
) -> None:
    students = cohort(projected=projected)

    filled = students.queries.filled_history(ALICE, day(1), TODAY)

    assert [m.as_of for m in filled] == [day(n) for n in range(2, 11)]  # her first day is the 2nd
    assert [m.to_document() for m in filled] == [
        students.expected(ALICE, day(n)) for n in range(2, 11)
    ]


def test_a_filled_range_starting_between_activities_continues_the_day_before_it() -> None:
    students = cohort()

    filled = students.queries.filled_history(ALICE, day(4), day(4))

    assert [m.to_document() for m in filled] == [students.expected(ALICE, day(4))]
    assert students.queries.history(ALICE, day(4), day(4)) == []  # no activity on the 4th


def test_a_filled_range_before_the_first_activity_is_empty() -> None:
    students = cohort()

    assert students.queries.filled_history(ALICE, day(1), day(1)) == []


def test_a_filled_history_falls_back_to_replay_for_expired_snapshots() -> None:
    students = cohort(snapshot_ttl_days=6)  # snapshots of the 2nd and 3rd have expired

    filled = students.queries.filled_history(ALICE, day(3), day(6))

    assert [m.to_document() for m in filled] == [
        students.expected(ALICE, day(3) + timedelta(days=n)) for n in range(4)
    ]
    assert students.store.events.reads > 0


# --- no data before the first event --------------------------------------------------------------


def test_a_read_before_the_first_event_says_there_is_no_data() -> None:
    students = cohort()

    assert students.queries.mastery(ALICE, day(1)).no_data
    assert not students.queries.mastery(ALICE, day(2)).no_data
    assert not students.queries.mastery(ALICE, TODAY).no_data


# --- classes -------------------------------------------------------------------------------------


def test_an_admin_sees_every_class_of_its_tenant_with_counts_mean_and_at_risk() -> None:
    students = school()

    classes = Directory(students.queries).classes(TENANT)

    roster = students.queries.class_roster("t-one", "c1")
    assert roster is not None
    assert [(c.class_id, c.students, c.at_risk) for c in classes] == [("c1", 3, 1), ("c2", 1, 0)]
    assert classes[0].mean_mastery == round(sum(e.score for e in roster) / 3, 3)
    assert classes[1].mean_mastery == round(
        float(mastery_as_of(students.facts(CAROL), TODAY).to_document()["mastery_score"]), 3
    )


def test_a_teacher_sees_only_the_classes_of_its_token_even_empty_ones() -> None:
    students = school()

    classes = Directory(students.queries).classes(Scope("t-one", classes=frozenset({"c2", "c9"})))

    assert [(c.class_id, c.students, c.mean_mastery, c.at_risk) for c in classes] == [
        ("c2", 1, classes[0].mean_mastery, 0),
        ("c9", 0, None, 0),
    ]
    assert Directory(students.queries).classes(Scope("t-one")) == []


def test_a_class_of_another_tenant_is_not_listed() -> None:
    students = school()

    assert [c.class_id for c in Directory(students.queries).classes(Scope("t-two", True))] == ["c1"]
    assert Directory(students.queries).classes(Scope("t-three", True)) == []


# --- students ------------------------------------------------------------------------------------


def ids(
    scope: Scope, wanted: StudentFilter | None = None, after: str | None = None, limit: int = 50
) -> list[str]:
    page = Directory(school().queries).students(scope, wanted or StudentFilter(), after, limit)
    return [listed.entry.student_id for listed in page.students]


def test_an_admin_finds_every_student_of_its_tenant_by_id() -> None:
    students = school()

    page = Directory(students.queries).students(TENANT, StudentFilter(), None, 50)

    assert [s.entry.student_id for s in page.students] == ["Carol-2", "alice", "bob"]
    assert [s.class_ids for s in page.students] == [["c1", "c2"], ["c1"], ["c1"]]
    assert page.next_after is None
    carol = page.students[0].entry
    assert carol.mastery.to_document() == students.expected(CAROL, TODAY)


def test_a_teacher_finds_the_students_of_its_classes_and_its_named_students() -> None:
    assert ids(Scope("t-one", classes=frozenset({"c2"}))) == ["Carol-2"]
    assert ids(Scope("t-one", students=frozenset({"bob", "ghost", "dan"}))) == ["bob"]
    assert ids(Scope("t-one", classes=frozenset({"c2"}), students=frozenset({"bob"}))) == [
        "Carol-2",
        "bob",
    ]
    assert ids(Scope("t-one")) == []
    assert ids(Scope("t-two", classes=frozenset({"c1"}))) == ["dan"]


def test_a_student_finds_only_themself() -> None:
    assert ids(Scope("t-one", students=frozenset({"alice"}))) == ["alice"]


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        (StudentFilter(q="CAROL"), ["Carol-2"]),
        (StudentFilter(q="l"), ["Carol-2", "alice"]),
        (StudentFilter(q="zz"), []),
        (StudentFilter(class_id="c2"), ["Carol-2"]),
        (StudentFilter(class_id="c9"), []),
        (StudentFilter(at_risk=True), ["bob"]),
        (StudentFilter(at_risk=False), ["Carol-2", "alice"]),
        (StudentFilter(q="o", at_risk=False), ["Carol-2"]),
    ],
)
def test_students_are_filtered(wanted: StudentFilter, expected: list[str]) -> None:
    assert ids(TENANT, wanted) == expected


def test_students_are_filtered_by_level_as_of_today() -> None:
    students = school()
    directory = Directory(students.queries)
    everyone = directory.students(TENANT, StudentFilter(), None, 50).students
    level = everyone[2].entry.mastery.level  # bob's

    found = directory.students(TENANT, StudentFilter(level=level), None, 50).students

    assert [s.entry.student_id for s in found] == [
        s.entry.student_id for s in everyone if s.entry.mastery.level == level
    ]
    assert "bob" in [s.entry.student_id for s in found]


def test_a_teacher_filtering_on_a_class_keeps_to_its_own_students() -> None:
    assert ids(Scope("t-one", students=frozenset({"bob"})), StudentFilter(class_id="c1")) == ["bob"]


def test_students_are_paged_after_the_last_id_seen() -> None:
    directory = Directory(school().queries)

    first = directory.students(TENANT, StudentFilter(), None, 2)
    second = directory.students(TENANT, StudentFilter(), first.next_after, 2)

    assert [s.entry.student_id for s in first.students] == ["Carol-2", "alice"]
    assert first.next_after == "alice"
    assert [s.entry.student_id for s in second.students] == ["bob"]
    assert second.next_after is None
    exact = directory.students(TENANT, StudentFilter(), None, 3)
    assert exact.next_after is None  # a full last page says no more follow
    assert ids(TENANT, after="b") == ["bob"]  # any id is a position, listed or not
