"""What every CLI command shares: settings, the composition root, error reporting, and the
parsers of dates and paths given on the command line.

Bad input or an unavailable service ends the command with a clear message and exit code 1
(2 for bad usage), never a traceback.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import typer
from eventsourcing.persistence import PersistenceError
from rich.console import Console

from infrastructure.container import Container, build, services
from infrastructure.event_store.application import UnknownStudentError
from infrastructure.event_store.keys import StudentErasedError
from infrastructure.settings import ConfigurationError, Settings

EXIT_FAILURE = 1
EXIT_USAGE = 2
DATE_FORMAT = "YYYY-MM-DD"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

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
    except UnknownStudentError as exc:
        raise fail(str(exc)) from None
    except StudentErasedError:
        raise fail(
            "the student's data has been erased: their events can no longer be read"
        ) from None
    except PersistenceError as exc:
        raise fail(f"database: {exc}") from None
    except OSError as exc:
        raise fail(os_error(exc)) from None
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


def os_error(exc: OSError) -> str:
    """What went wrong with which file, without Python's ``[Errno N]`` prefix."""
    reason = (exc.strerror or str(exc)).lower()
    return f"{exc.filename}: {reason}" if exc.filename else reason


# --- parsers of command-line values ------------------------------------------------------------
# Used as ``typer.Option(parser=...)``: a BadParameter comes out as "Invalid value for '--flag':
# <message>" with exit code 2, so the flag is always named and messages need only the value.


def iso_date(value: str) -> date:
    """A calendar date written exactly ``YYYY-MM-DD``."""
    if not _ISO_DATE.fullmatch(value):
        raise typer.BadParameter(f"{value!r} is not a date {DATE_FORMAT}")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date {DATE_FORMAT} ({exc})") from None


def logging_level(value: str) -> str:
    """A standard logging level name, in any case."""
    name = value.upper()
    if name not in LOG_LEVELS:
        raise typer.BadParameter(
            f"{value!r} is not a log level; use {', '.join(LOG_LEVELS).lower()}"
        )
    return name


def _path_parser(problem_of: Callable[[Path], str | None]) -> Callable[[str], Path]:
    def parse(value: str) -> Path:
        path = Path(value)
        try:
            problem = problem_of(path)
        except OSError as exc:
            problem = (exc.strerror or str(exc)).lower()
        if problem:
            raise typer.BadParameter(f"{path}: {problem}")
        return path

    return parse


def readable_file_problem(path: Path) -> str | None:
    """Why ``path`` is not an existing regular file this process may read, or None."""
    if not path.exists():
        return "no such file"
    if path.is_dir():
        return "is a folder, not a file"
    if not path.is_file():
        return "is not a regular file"
    if not os.access(path, os.R_OK):
        return "permission denied (not readable)"
    return None


def existing_folder_problem(path: Path) -> str | None:
    if not path.exists():
        return "no such folder"
    if not path.is_dir():
        return "is a file, not a folder"
    return None


def output_file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be (over)written as a file, or None: its folder must exist and be
    writable, and it must not be a folder itself."""
    if path.is_dir():
        return "is a folder; give a file name"
    if path.exists() and not path.is_file():
        return "is not a regular file"
    folder = path.absolute().parent
    if not folder.exists():
        return f"folder {folder} does not exist"
    if not folder.is_dir():
        return f"{folder} is a file, not a folder"
    writable = os.access(folder, os.W_OK | os.X_OK)
    if not writable or (path.exists() and not os.access(path, os.W_OK)):
        return "permission denied (not writable)"
    return None


def new_folder_problem(path: Path) -> str | None:
    """Why ``path`` cannot take new files, or None: it must be absent (it is then created with
    its parents) or an empty folder, so that nothing already there is overwritten."""
    if not path.exists():
        return _creatable_problem(path)
    if not path.is_dir():
        return "is a file; give a new or empty folder"
    if any(path.iterdir()):
        return "folder is not empty; give a new or empty folder"
    if not os.access(path, os.W_OK | os.X_OK):
        return "permission denied (not writable)"
    return None


def _creatable_problem(path: Path) -> str | None:
    ancestor = path.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{ancestor} is a file, not a folder"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"cannot create it in {ancestor} (permission denied)"
    return None


readable_file = _path_parser(readable_file_problem)
existing_folder = _path_parser(existing_folder_problem)
output_file = _path_parser(output_file_problem)
new_folder = _path_parser(new_folder_problem)
