"""The generation registry (SPEC §4b): which generations of read models exist, and which is live.

It lives in Redis beside the read models, under ``MASTERY_REDIS_PREFIX``: one hash of
generations (name -> JSON) and one live pointer (a plain string the API reads with every
request, in the same round trip as the document). The read models written under the prefix
itself are the ``main`` generation (formula ``seed-v1``), there without any registry entry, so an
existing deployment needs nothing. Another generation ``NAME`` keeps its keys under
``<prefix>gen:NAME:``, which no pattern of the main generation's keys matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from domain.mastery.formulas import DEFAULT_FORMULA, Formula, formula_named
from infrastructure.redis_views.commands import RedisClient

MAIN = "main"
BUILDING = "building"
READY = "ready"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
_NAME = re.compile(NAME_PATTERN)


class GenerationError(ValueError):
    """A generation that does not exist, exists already, or may not do what was asked."""


def check_generation_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise GenerationError(
            f"a generation name is 1-40 characters of a-z 0-9 _ -, starting with a letter or "
            f"digit, got {name!r}"
        )
    return name


@dataclass(frozen=True, slots=True)
class Generation:
    name: str
    formula: str
    prefix: str
    state: str  # BUILDING or READY
    created_at: str
    built_at: str | None = None

    @property
    def ready(self) -> bool:
        return self.state == READY

    def formula_policy(self) -> Formula:
        return formula_named(self.formula)


def generation_prefix(base_prefix: str, name: str) -> str:
    """Where a generation's keys live: the base prefix itself for ``main``."""
    return base_prefix if name == MAIN else f"{base_prefix}gen:{name}:"


class GenerationRegistry:
    def __init__(self, client: RedisClient, base_prefix: str) -> None:
        self.client = client
        self.base_prefix = base_prefix
        self.hash_key = f"{base_prefix}generations:{{registry}}:all"
        self.pointer_key = f"{base_prefix}generations:{{registry}}:live"

    # --- reading ---------------------------------------------------------------------------

    def main(self) -> Generation:
        """The generation of the read models under the base prefix, as it was before any
        registry existed."""
        return Generation(MAIN, DEFAULT_FORMULA.name, self.base_prefix, READY, _now(), _now())

    def all(self) -> list[Generation]:
        """Every generation, ``main`` first, then by name."""
        raw: dict[Any, Any] = self.client.hgetall(self.hash_key)
        found = {g.name: g for g in (_generation(v) for v in raw.values())}
        found.setdefault(MAIN, self.main())
        return [found[MAIN], *(found[n] for n in sorted(found) if n != MAIN)]

    def __iter__(self) -> Iterator[Generation]:
        return iter(self.all())

    def get(self, name: str) -> Generation:
        if name == MAIN:
            raw = self.client.hget(self.hash_key, MAIN)
            return self.main() if raw is None else _generation(raw)
        raw = self.client.hget(self.hash_key, check_generation_name(name))
        if raw is None:
            raise GenerationError(f"no generation named {name!r}")
        return _generation(raw)

    def live_name(self) -> str:
        return self.pointed_at(self.client.get(self.pointer_key)).name

    def pointed_at(self, pointer: Any) -> Generation:
        """The generation a live pointer's value names: ``main`` when there is none. The
        pointer carries name, formula and prefix, so a reader needs nothing else."""
        if pointer is None:
            return self.main()
        named = orjson.loads(pointer)
        return Generation(named["name"], named["formula"], named["prefix"], READY, "")

    def live(self) -> Generation:
        return self.get(self.live_name())

    # --- changing --------------------------------------------------------------------------

    def register(self, name: str, formula: Formula) -> Generation:
        """A new generation, state ``building``; refuses a name in use."""
        check_generation_name(name)
        if name == MAIN:
            raise GenerationError("main is the generation under MASTERY_REDIS_PREFIX itself")
        generation = Generation(
            name, formula.name, generation_prefix(self.base_prefix, name), BUILDING, _now()
        )
        if not self.client.hsetnx(self.hash_key, name, _json(generation)):
            raise GenerationError(f"a generation named {name!r} exists already")
        return generation

    def mark_ready(self, name: str) -> Generation:
        generation = replace(self.get(name), state=READY, built_at=_now())
        self.client.hset(self.hash_key, name, _json(generation))
        return generation

    def mark(self, name: str, state: str) -> Generation:
        generation = replace(self.get(name), state=state)
        self.client.hset(self.hash_key, name, _json(generation))
        return generation

    def point_at(self, generation: Generation) -> None:
        """Make ``generation`` live: one SET, so every request after it reads it."""
        pointer = {"name": generation.name, "formula": generation.formula}
        self.client.set(self.pointer_key, orjson.dumps({**pointer, "prefix": generation.prefix}))

    def forget(self, name: str) -> None:
        self.client.hdel(self.hash_key, name)


def glob_escaped(text: str) -> str:
    """``text`` matched literally in a SCAN pattern."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _json(generation: Generation) -> bytes:
    return orjson.dumps(asdict(generation))


def _generation(raw: Any) -> Generation:
    return Generation(**orjson.loads(raw))
