"""The demo's JWT secret and master key, kept in the data folder beside its embedded servers.

``mastery demo`` creates them on its first run; every later command that uses the same data
folder's embedded database finds them there, so the README's commands work beside a running
demo with nothing exported (SPEC §9). Variables that are set always win. A configured
``MASTERY_DATABASE_URL`` means a real deployment: the file is then never read.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from infrastructure.settings import ConfigurationError, Settings

SECRETS_FILE = "demo-secrets.json"


@dataclass(frozen=True)
class LocalSecrets:
    jwt_secret: str
    master_key: str


def secrets_path(settings: Settings) -> Path:
    return settings.data_dir / SECRETS_FILE


def with_demo_secrets(settings: Settings) -> Settings:
    """``settings`` completed with the data folder's secrets, created if there are none."""
    secrets = _read(secrets_path(settings)) or _create(secrets_path(settings))
    return _completed(settings, secrets)


def with_found_secrets(settings: Settings) -> Settings:
    """``settings`` completed with the data folder's secrets when the database is the
    embedded one and the file exists; unchanged otherwise."""
    if settings.database_url is not None:
        return settings
    secrets = _read(secrets_path(settings))
    return _completed(settings, secrets) if secrets is not None else settings


def _completed(settings: Settings, secrets: LocalSecrets) -> Settings:
    return replace(
        settings,
        jwt_secret=settings.jwt_secret or secrets.jwt_secret,
        master_key=settings.master_key or secrets.master_key,
    )


def _create(path: Path) -> LocalSecrets:
    secrets = LocalSecrets(jwt_secret=_random_key(), master_key=_random_key())
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump({"jwt_secret": secrets.jwt_secret, "master_key": secrets.master_key}, out)
    return secrets


def _read(path: Path) -> LocalSecrets | None:
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raw = None
    if not isinstance(raw, dict) or not all(
        isinstance(raw.get(name), str) for name in ("jwt_secret", "master_key")
    ):
        raise ConfigurationError(
            f"{path} is damaged; remove it to start afresh (the demo data encrypted with the "
            "old keys becomes unreadable), or point MASTERY_DATA_DIR elsewhere"
        )
    return LocalSecrets(jwt_secret=raw["jwt_secret"], master_key=raw["master_key"])


def _random_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()
