"""``mastery ready ROLE``: is this container's worker of that role alive and healthy?

For the probes of the roles that serve no HTTP (SPEC §12): it reads the heartbeat files the
running workers write under ``MASTERY_HEALTH_DIR`` (``infrastructure.runtime.heartbeat``) and
prints one line per worker. Exit 0 when there is at least one and each is renewed within the
maximum age and running or standing by (a standby waiting for the leadership is ready); 1
otherwise, with the reason.
"""

from __future__ import annotations

import enum
import time
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import EXIT_FAILURE, command_settings, print_unwrapped, reported_errors
from infrastructure.runtime.heartbeat import read_beats, verdict


class Role(enum.StrEnum):
    CONSUMER = "consumer"
    PROJECTOR = "projector"
    PUBLISHER = "publisher"


def ready(
    role: Annotated[Role, typer.Argument(metavar="ROLE", help="The worker to check.")],
    max_age: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            help="Seconds after which a heartbeat is stale "
            "(default MASTERY_HEARTBEAT_MAX_AGE_SECONDS, 30).",
        ),
    ] = None,
    health_dir: Annotated[
        Path | None,
        typer.Option(help="Where the workers write heartbeats (default MASTERY_HEALTH_DIR)."),
    ] = None,
) -> None:
    """Exit 0 if this container's worker of ROLE is alive and healthy, 1 otherwise."""
    with reported_errors():
        settings = command_settings()
    folder = health_dir or settings.health_dir
    oldest = max_age if max_age is not None else settings.heartbeat_max_age_seconds
    beats = read_beats(folder, role.value)
    if not beats:
        print_unwrapped(f"{role.value}: no heartbeat in {folder} (not running)")
        raise typer.Exit(EXIT_FAILURE)
    now = time.time()
    verdicts = [verdict(role.value, beat, oldest, now) for beat in beats]
    for each in verdicts:
        print_unwrapped(each.line)
    if not all(each.healthy for each in verdicts):
        raise typer.Exit(EXIT_FAILURE)
