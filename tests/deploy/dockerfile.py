"""The Dockerfile read as its stages' instructions, and its builder stage's build context
reproduced in a folder: what the image tests build and install without a Docker engine."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from deploy.checks import DOCKERFILE, ROOT

VENDOR = ROOT / "api" / "http" / "dashboard" / "vendor"
LEFT_OUT = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules", "vendor")


def instructions() -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def stages() -> dict[str, list[tuple[str, str]]]:
    named: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for instruction, arguments in instructions():
        if instruction == "FROM":
            current = named.setdefault(arguments.split(" AS ")[-1].strip(), [])
        current.append((instruction, arguments))
    return named


def copied_sources(stage: str) -> list[str]:
    """What a stage's COPY lines take from the build context (not from another stage)."""
    return [
        source
        for instruction, arguments in stages()[stage]
        if instruction == "COPY" and not arguments.startswith("--from")
        for source in arguments.split()[:-1]
    ]


def builder_context(destination: Path) -> Path:
    """The builder stage's /src: the sources its COPY lines name, and the dashboard stage's
    vendor folder (the copy `make dashboard` made)."""
    assert VENDOR.joinpath("uPlot.esm.js").exists(), "run `make dashboard` (make test does)"
    destination.mkdir(parents=True)
    for name in copied_sources("builder"):
        origin = ROOT / name.rstrip("/")
        if origin.is_dir():
            shutil.copytree(origin, destination / origin.name, ignore=LEFT_OUT)
        else:
            shutil.copyfile(origin, destination / origin.name)
    shutil.copytree(VENDOR, destination / "api" / "http" / "dashboard" / "vendor")
    return destination
