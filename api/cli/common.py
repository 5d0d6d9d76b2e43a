"""What every CLI command shares: settings, the composition root, and error reporting.

Bad input or an unavailable service ends the command with a clear message and exit code 1
(2 for bad usage), never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from eventsourcing.persistence import PersistenceError
from rich.console import Console

from infrastructure.container import Container, build, services
from infrastructure.event_store.application import UnknownStudentError
from infrastructure.event_store.keys import StudentErasedError
from infrastructure.settings import ConfigurationError, Settings

EXIT_FAILURE = 1
EXIT_USAGE = 2

console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = EXIT_FAILURE) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


@contextmanager
def reported_errors() -> Iterator[None]:
    try:
        yield
    except ConfigurationError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    except (UnknownStudentError, StudentErasedError) as exc:
        raise fail(str(exc)) from None
    except PersistenceError as exc:
        raise fail(f"database: {exc}") from None
    except OSError as exc:
        raise fail(str(exc)) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as exc:
        logging.getLogger("mastery").debug("unexpected failure", exc_info=True)
        raise fail(f"unexpected {type(exc).__name__}: {exc}") from None


@contextmanager
def container(
    *, redis: bool = False, kafka: bool = False, settings: Settings | None = None
) -> Iterator[Container]:
    """Settings (from the environment unless given), embedded servers where no URL is set,
    wired objects."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with reported_errors():
        settings = settings or Settings.from_env()
        with services(settings, redis=redis, kafka=kafka) as resolved, build(resolved) as built:
            yield built
