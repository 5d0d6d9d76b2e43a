"""Query and response models of the directory routes, ``GET /v1/classes`` and
``GET /v1/students`` (a module of their own: ``models.py`` holds the per-student ones)."""

from __future__ import annotations

import base64
import binascii
from datetime import date
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from api.http.models import Level, _Model
from domain.identifiers import IDENTIFIER_PATTERN, check_identifier
from projections.directory import ClassSummary, ListedStudent, StudentFilter, StudentPage

MAX_STUDENTS_PAGE = 200
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{1,172}$"  # base64url of an id, unpadded


def cursor_of(student_id: str) -> str:
    """The opaque cursor after ``student_id``: its base64url, unpadded."""
    return base64.urlsafe_b64encode(student_id.encode()).decode().rstrip("=")


def _student_after(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return check_identifier("student", raw.decode("ascii"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("not a cursor this API returned") from None


# --- queries ----------------------------------------------------------------------------------


class StudentsQuery(_Model):
    q: str | None = Field(
        None, max_length=128, description="Part of the student id, in any letter case."
    )
    class_: str | None = Field(
        None, alias="class", pattern=IDENTIFIER_PATTERN, description="Only this class's students."
    )
    level: Level | None = Field(None, description="Only students at this level today.")
    at_risk: bool | None = Field(None, description="Only students (not) at risk today.")
    limit: int = Field(50, ge=1, le=MAX_STUDENTS_PAGE, description="Students per page.")
    cursor: (
        Annotated[str, StringConstraints(pattern=CURSOR_PATTERN), AfterValidator(_student_after)]
        | None
    ) = Field(None, description="`next_cursor` of the previous page.")

    def wanted(self) -> StudentFilter:
        return StudentFilter(q=self.q, class_id=self.class_, level=self.level, at_risk=self.at_risk)


# --- responses --------------------------------------------------------------------------------


class ClassSummaryOut(_Model):
    class_id: str
    students: int
    mean_mastery: float | None = Field(
        description="Mean of the students' mastery scores today; null for a class without any."
    )
    at_risk: int = Field(description="Students at risk, as the class roster flags them.")

    @classmethod
    def of(cls, summary: ClassSummary) -> ClassSummaryOut:
        return cls(
            class_id=summary.class_id,
            students=summary.students,
            mean_mastery=summary.mean_mastery,
            at_risk=summary.at_risk,
        )


class ClassesOut(_Model):
    tenant_id: str
    as_of: date
    classes: list[ClassSummaryOut]


class StudentSummaryOut(_Model):
    student_id: str
    mastery_score: float
    level: Level
    at_risk: bool
    class_ids: list[str]

    @classmethod
    def of(cls, listed: ListedStudent) -> StudentSummaryOut:
        entry = listed.entry
        return cls.model_validate(
            {
                "student_id": entry.student_id,
                "mastery_score": entry.score,
                "level": entry.mastery.level,
                "at_risk": entry.at_risk,
                "class_ids": listed.class_ids,
            }
        )


class StudentsOut(_Model):
    tenant_id: str
    as_of: date
    students: list[StudentSummaryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null last.")

    @classmethod
    def of(cls, tenant_id: str, as_of: date, page: StudentPage) -> StudentsOut:
        return cls(
            tenant_id=tenant_id,
            as_of=as_of,
            students=[StudentSummaryOut.of(listed) for listed in page.students],
            next_cursor=None if page.next_after is None else cursor_of(page.next_after),
        )
