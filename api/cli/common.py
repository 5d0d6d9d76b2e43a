"""What every CLI command shares: settings, the composition root, error reporting, and the
parsers of dates and paths given on the command line.

Bad input or an unavailable service ends the command with a clear message and exit code 1
(2 for bad usage), never a traceback.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import typer
from eventsourcing.persistence import PersistenceError
from rich.console import Console

from domain.errors import StudentErasedError, UnknownStudentError
from infrastructure.auth.tokens import TokenVerifier
from infrastructure.bootstrap import Container, build, with_servers
from infrastructure.embedded.server import EmbeddedServerError
from infrastructure.event_store.encrypted import holds_data_keys
from infrastructure.local_secrets import SECRETS_FILE, with_found_secrets
from infrastructure.settings import ConfigurationError, Settings

EXIT_FAILURE = 1
EXIT_USAGE = 2
DATE_FORMAT = "YYYY-MM-DD"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

console = Console()
errors = Console(stderr=True)


def print_unwrapped(text: str) -> None:
    """``text`` as it is: no wrapping (URLs and tokens are copied whole), no colouring."""
    console.print(text, soft_wrap=True, highlight=False, markup=False)


def base_url(host: str, port: int) -> str:
    return f"http://{host}:{port}"


def dashboard_link(base: str, token: str) -> str:
    """The dashboard signed in by the link itself (SPEC §11): the token rides in the URL
    fragment, which browsers never send to the server."""
    return f"{base}/dashboard/#token={token}"


def fail(message: str, code: int = EXIT_FAILURE) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


@contextmanager
def reported_errors() -> Iterator[None]:
    try:
        yield
    except ConfigurationError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    except EmbeddedServerError as exc:
        raise fail(str(exc)) from None
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
        settings = settings or command_settings()
        with with_servers(settings, redis=redis, kafka=kafka) as resolved:
            require_master_key(resolved)
            with build(resolved) as built:
                yield built


def command_settings() -> Settings:
    """Settings from the environment, completed with the demo's secrets where the database is
    the data folder's embedded one."""
    return with_found_secrets(Settings.from_env())


def require_master_key(settings: Settings) -> None:
    """Refuse, before anything reads or writes events, to work on an encrypted store without
    the master key (a decryption error deep inside would not say what is missing)."""
    if settings.master_key is None and holds_data_keys(settings.require_database_url()):
        raise ConfigurationError(
            "the event store's events are encrypted: set MASTERY_MASTER_KEY to the master key "
            f"they were written with (the demo keeps its key in {SECRETS_FILE} in the data "
            "folder, MASTERY_DATA_DIR)"
        )


def check_api(settings: Settings, host: str | None, port: int | None) -> None:
    """What serving the API needs, checked before any server or worker starts and before
    anything is printed: a key to verify tokens, and a port to listen on."""
    TokenVerifier.from_settings(settings)
    address, number = host or settings.http_host, port or settings.http_port
    problem = _listen_problem(address, number)
    if problem is not None:
        raise ConfigurationError(
            f"cannot serve the API on {address}:{number}: {problem} "
            "(choose another with --port or MASTERY_HTTP_PORT)"
        )


def _listen_problem(host: str, port: int) -> str | None:
    """Why the API could not listen on ``host:port`` (bound as uvicorn binds), or None."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except socket.gaierror as exc:
        return f"unknown host ({exc.strerror})"
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return "the port is in use"
        return os_error(exc)
    return None


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
