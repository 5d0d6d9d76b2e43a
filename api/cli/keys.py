from __future__ import annotations

import typer

from api.cli.common import console, container, fail
from infrastructure.event_store.keys import MasterKey

app = typer.Typer(help="Master key operations for per-student encryption.")


@app.command()
def rotate() -> None:
    """Re-wrap every student's data key with MASTERY_MASTER_KEY (keep the old one in
    MASTERY_PREVIOUS_MASTER_KEYS until this has run). Rewrites no event."""
    with container() as built:
        keyring = built.application.keyring
        if keyring is None:
            raise fail("MASTERY_MASTER_KEY is not set")
        rotated = keyring.rotate()
    console.print(f"re-wrapped {rotated} data key(s) with master key {keyring.master.key_id}")


@app.command()
def generate() -> None:
    """Print a new random master key (base64 of 32 bytes)."""
    console.print(MasterKey.generate(), highlight=False)
