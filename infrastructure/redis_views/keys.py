"""Redis key names of the read models (SPEC §5).

Every key of one student carries the hash tag ``{T/S}`` so that all of them live in one Redis
Cluster slot and can be written in one transaction or script. ``prefix`` lets a new generation
of read models (say, under a new formula) be built beside the live one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = ""

    def student_tag(self, tenant_id: str, student_id: str) -> str:
        return f"{self.prefix}student:{{{tenant_id}/{student_id}}}"

    def current(self, tenant_id: str, student_id: str) -> str:
        return f"{self.student_tag(tenant_id, student_id)}:profile:current_mastery"

    def snapshot(self, tenant_id: str, student_id: str, day: date) -> str:
        return f"{self.student_tag(tenant_id, student_id)}:mastery:{day.isoformat()}"

    def projection(self, tenant_id: str, student_id: str) -> str:
        """Hash: the student's projected position and activity dates."""
        return f"{self.student_tag(tenant_id, student_id)}:projection"

    def erased(self, tenant_id: str, student_id: str) -> str:
        """The student's erasure tombstone: in the student's slot, outside ``all_pattern`` (a
        rebuild keeps it)."""
        return f"{self.prefix}erased:{{{tenant_id}/{student_id}}}:student"

    def erased_from_class(self, tenant_id: str, class_id: str) -> str:
        """Set of the erased students a class roster refuses, in the roster's slot."""
        return f"{self.prefix}erased:{{{tenant_id}/{class_id}}}:class"

    def erased_from_tenant(self, tenant_id: str) -> str:
        """Set of the erased students the tenant roster refuses, in the roster's slot."""
        return f"{self.prefix}erased:{{{tenant_id}}}:tenant"

    def class_roster(self, tenant_id: str, class_id: str) -> str:
        return f"{self.prefix}class:{{{tenant_id}/{class_id}}}:students"

    def tenant_roster(self, tenant_id: str) -> str:
        return f"{self.prefix}tenant:{{{tenant_id}}}:students"

    def tenant_classes(self, tenant_id: str) -> str:
        """Set of the tenant's class ids, written beside their rosters (listing them never
        scans keys)."""
        return f"{self.prefix}tenant:{{{tenant_id}}}:classes"

    def tracking(self, application_name: str) -> str:
        return f"{self.prefix}projection:{{{application_name}}}:position"

    def student_pattern(self, tenant_id: str | None = None) -> str:
        return f"{self.prefix}student:{{{tenant_id + '/' if tenant_id else ''}*"

    def all_pattern(self, tenant_id: str | None = None) -> list[str]:
        if tenant_id is None:
            return [
                f"{self.prefix}student:*",
                f"{self.prefix}class:*",
                f"{self.prefix}tenant:*",
                f"{self.prefix}projection:*",
            ]
        return [
            f"{self.prefix}student:{{{tenant_id}/*",
            f"{self.prefix}class:{{{tenant_id}/*",
            self.tenant_roster(tenant_id),
            self.tenant_classes(tenant_id),
        ]
