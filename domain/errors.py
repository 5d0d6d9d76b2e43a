"""The two ways a student can be absent, whoever finds out: the event store while writing or
replaying, the read side while answering a query, an export or the CLI.

They live in the domain so that the read side (``projections.queries``) can raise and the entry
points can answer them (404 and 410) without depending on the event store that also raises them.
"""

from __future__ import annotations

from uuid import UUID


class UnknownStudentError(LookupError):
    def __init__(self, tenant_id: str, student_id: str) -> None:
        self.tenant_id = tenant_id
        self.student_id = student_id
        super().__init__(f"no events recorded for student {student_id!r} in tenant {tenant_id!r}")


class StudentErasedError(LookupError):
    """The student's data key was destroyed: their events can no longer be read."""

    def __init__(self, originator_id: UUID) -> None:
        self.originator_id = originator_id
        super().__init__(f"student {originator_id} has been erased")
