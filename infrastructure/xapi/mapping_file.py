"""Reading a mapping: the built-in default, or a YAML or JSON file named in
``MASTERY_XAPI_MAPPING``, checked when it is loaded so a bad file stops the start, with the
place and reason of each problem."""

from __future__ import annotations

from pathlib import Path

import orjson
import yaml
from pydantic import ValidationError

from infrastructure.xapi.mapping import Mapping

DEFAULT_MAPPING = Path(__file__).with_name("default_mapping.yaml")


class MappingFileError(ValueError):
    """A mapping file that cannot be used; the message names the file and every problem."""


def load_mapping(path: Path | None = None) -> Mapping:
    """The mapping in ``path`` (``.json``: JSON, anything else: YAML), or the default."""
    source = path or DEFAULT_MAPPING
    try:
        text = source.read_bytes()
    except OSError as exc:
        raise MappingFileError(f"{source}: cannot be read: {exc.strerror or exc}") from None
    try:
        document = orjson.loads(text) if source.suffix.lower() == ".json" else yaml.safe_load(text)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise MappingFileError(f"{source}: not valid {_kind(source)}: {exc}") from None
    if not isinstance(document, dict):
        raise MappingFileError(f"{source}: must hold an object with a list of rules")
    try:
        return Mapping.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(top)'}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)
        )
        raise MappingFileError(f"{source}: {problems}") from None


def _kind(path: Path) -> str:
    return "JSON" if path.suffix.lower() == ".json" else "YAML"
