from __future__ import annotations

from typing import Annotated

import typer

from api.cli.common import EXIT_USAGE, console, container, fail
from domain.identifiers import check_identifier, check_tenant
from infrastructure.compliance.erasure import erase_student


def erase(
    student: Annotated[str, typer.Argument(help="Student id.")],
    tenant: Annotated[str, typer.Option(help="Tenant id.")] = "default",
    reason: Annotated[
        str, typer.Option(help="Why (kept in the erasure register).")
    ] = "subject request",
    requested_by: Annotated[str, typer.Option(help="Who asked (kept in the register).")] = "cli",
) -> None:
    """Erase a student (GDPR) by destroying their data key; idempotent."""
    try:
        check_identifier("student", student)
        check_tenant(tenant)
    except ValueError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    with container(redis=True) as built:
        erasure = erase_student(
            built.application,
            built.view,
            built.settings.require_database_url(),
            tenant,
            student,
            requested_by=requested_by,
            reason=reason,
            generations=built.generation_views,
        )
    if erasure.erased_now:
        console.print(
            f"erased {tenant}/{student}: {erasure.events_kept} event(s) stay in the log, "
            "unreadable; read models removed"
        )
    else:
        console.print(f"{tenant}/{student} was already erased; nothing changed")
