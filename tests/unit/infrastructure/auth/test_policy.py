"""The authorisation policy (SPEC §7) as a table: every role against every kind of read, ingest
and the status, the allow and the deny cases. (A principal never reaches another tenant's data:
the routes build every key from the token's tenant, so the rules need not look at it.)"""

from __future__ import annotations

import pytest

from infrastructure.auth.policy import (
    ROLES,
    Principal,
    Role,
    may_ingest,
    may_read_class,
    may_read_status,
    may_read_student,
)

TENANT = "school"


def principal(
    role: Role,
    subject: str = "who",
    students: frozenset[str] = frozenset(),
    classes: frozenset[str] = frozenset(),
) -> Principal:
    return Principal(subject, role, TENANT, students, classes)


def nowhere(class_id: str) -> bool:
    return False


class Rosters:
    """Which classes the read student is on, and which classes the policy asked about."""

    def __init__(self, *classes: str) -> None:
        self.classes = set(classes)
        self.asked: list[str] = []

    def __call__(self, class_id: str) -> bool:
        self.asked.append(class_id)
        return class_id in self.classes


def test_the_roles_are_the_four_a_token_may_name() -> None:
    assert sorted(ROLES) == ["admin", "service", "student", "teacher"]


# --- one student's data -------------------------------------------------------------------------


def test_an_admin_reads_every_student_of_the_tenant() -> None:
    rosters = Rosters()
    assert may_read_student(principal(Role.ADMIN), "anyone", rosters)
    assert rosters.asked == []


def test_a_student_reads_only_their_own_data() -> None:
    assert may_read_student(principal(Role.STUDENT, subject="ann"), "ann", nowhere)
    assert not may_read_student(principal(Role.STUDENT, subject="ann"), "bob", Rosters("c1"))


def test_a_student_claim_on_a_student_token_grants_nothing_more() -> None:
    token = principal(Role.STUDENT, subject="ann", students=frozenset({"bob"}))
    assert not may_read_student(token, "bob", nowhere)


def test_a_teacher_reads_a_student_named_in_the_token_without_asking_the_rosters() -> None:
    rosters = Rosters()
    teacher = principal(Role.TEACHER, students=frozenset({"ann"}), classes=frozenset({"c1"}))
    assert may_read_student(teacher, "ann", rosters)
    assert rosters.asked == []


def test_a_teacher_reads_a_student_on_the_roster_of_one_of_their_classes() -> None:
    teacher = principal(Role.TEACHER, classes=frozenset({"c2", "c1"}))
    assert may_read_student(teacher, "ann", Rosters("c2"))


def test_a_teacher_does_not_read_a_student_on_none_of_their_classes() -> None:
    rosters = Rosters("c9")
    teacher = principal(Role.TEACHER, classes=frozenset({"c2", "c1"}))
    assert not may_read_student(teacher, "ann", rosters)
    assert rosters.asked == ["c1", "c2"]  # only the teacher's own classes, in a fixed order


def test_a_teacher_without_classes_or_students_reads_no_student() -> None:
    rosters = Rosters("c1")
    assert not may_read_student(principal(Role.TEACHER), "ann", rosters)
    assert rosters.asked == []


def test_a_service_reads_no_student() -> None:
    token = principal(Role.SERVICE, subject="ann", students=frozenset({"ann"}))
    assert not may_read_student(token, "ann", Rosters("c1"))


# --- a class ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "classes", "allowed"),
    [
        (Role.ADMIN, frozenset(), True),
        (Role.TEACHER, frozenset({"c1"}), True),
        (Role.TEACHER, frozenset({"c2"}), False),
        (Role.TEACHER, frozenset(), False),
        (Role.STUDENT, frozenset({"c1"}), False),
        (Role.SERVICE, frozenset({"c1"}), False),
    ],
)
def test_who_reads_class_c1(role: Role, classes: frozenset[str], allowed: bool) -> None:
    assert may_read_class(principal(role, classes=classes), "c1") is allowed


# --- ingest and the tenant's status -------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "allowed"),
    [(Role.SERVICE, True), (Role.ADMIN, False), (Role.TEACHER, False), (Role.STUDENT, False)],
)
def test_only_a_service_ingests(role: Role, allowed: bool) -> None:
    assert may_ingest(principal(role)) is allowed


@pytest.mark.parametrize(
    ("role", "allowed"),
    [(Role.ADMIN, True), (Role.SERVICE, False), (Role.TEACHER, False), (Role.STUDENT, False)],
)
def test_only_an_admin_reads_the_tenant_status(role: Role, allowed: bool) -> None:
    assert may_read_status(principal(role)) is allowed
