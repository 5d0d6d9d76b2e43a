"""Opening and closing the event-store application as one unit (with its key ring)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from infrastructure.event_store.application import MasteryApplication
from infrastructure.settings import Settings


def close_application(application: MasteryApplication) -> None:
    if application.keyring is not None:
        application.keyring.close()
    application.close()


@contextmanager
def opened_application(settings: Settings) -> Iterator[MasteryApplication]:
    """The application for this thread or process alone (its own pool and aggregate cache)."""
    application = MasteryApplication(settings)
    try:
        yield application
    finally:
        close_application(application)
