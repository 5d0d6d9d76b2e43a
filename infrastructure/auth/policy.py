"""Who may do what (SPEC §7): the roles a token names, the principal it proves, and the rules
each route asks before it reads or writes. Pure: the one fact the rules cannot know (whether a
student is on a class's roster) is asked through a callable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    STUDENT = "student"
    TEACHER = "teacher"
    ADMIN = "admin"
    SERVICE = "service"


ROLES = frozenset(role.value for role in Role)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking, as the verified token says."""

    subject: str
    role: Role
    tenant_id: str
    students: frozenset[str] = frozenset()
    classes: frozenset[str] = frozenset()


def may_read_student(
    principal: Principal, student_id: str, rostered: Callable[[str], bool]
) -> bool:
    """Whether ``principal`` may read a student of its own tenant.

    ``rostered(class_id)`` answers whether the student is on that class's roster; it is asked
    only for a teacher's classes, and only when the ``students`` claim does not already decide.
    """
    match principal.role:
        case Role.ADMIN:
            return True
        case Role.STUDENT:
            return principal.subject == student_id
        case Role.TEACHER:
            if student_id in principal.students:
                return True
            return any(rostered(class_id) for class_id in sorted(principal.classes))
        case _:
            return False


def may_read_class(principal: Principal, class_id: str) -> bool:
    if principal.role is Role.ADMIN:
        return True
    return principal.role is Role.TEACHER and class_id in principal.classes


def may_ingest(principal: Principal) -> bool:
    return principal.role is Role.SERVICE


def may_read_status(principal: Principal) -> bool:
    return principal.role is Role.ADMIN
