"""Which generation of read models a request reads (SPEC §4b).

Each request reads the live pointer once and then reads only the generation it names, so a
``promote`` (one SET of the pointer) switches the API between two requests: none fails, none
reads a mix. On the hot path the pointer comes in the same round trip as the student's current
document, read under the generation the previous request found live; only in the request that
first sees a new pointer is the document read again, under the new generation. Admins may name
a generation (``?generation=NAME``); anyone else asking for one gets 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from api.http.problems import ProblemError, invalid
from api.http.services import Picked, Services
from infrastructure.auth.policy import Principal, Role
from infrastructure.generations.registry import Generation, GenerationError, GenerationRegistry
from infrastructure.redis_views.async_reader import AsyncCurrentReader
from projections.view import StudentKey

GENERATION_PARAMETER = "generation"


class GenerationPicker:
    def __init__(
        self,
        reader: AsyncCurrentReader,
        registry: GenerationRegistry,
        services_for: Callable[[Generation], Services],
    ) -> None:
        self.reader = reader
        self.registry = registry
        self.services_for = services_for
        self._by_pointer: dict[Any, Services] = {}
        self._last: tuple[Any, Services] | None = None

    async def pick(self, key: StudentKey | None, wanted: str | None) -> Picked:
        """The generation named ``wanted`` (an admin's ``?generation=``), else the live one;
        with ``key``, the student's current document read in it."""
        if wanted is not None:
            services = await self._named(wanted)
            if key is None:
                return Picked(services)
            return Picked(services, await self.reader.current(key, services.view.keys), True)
        if key is None:
            return Picked(self._live(await self.reader.get(self.registry.pointer_key)))
        last = self._last or (None, self._live(None))
        current, pointer = await self.reader.current_and(
            key, last[1].view.keys, self.registry.pointer_key
        )
        if pointer == last[0]:
            return Picked(last[1], current, True)
        services = self._live(pointer)
        self._last = (pointer, services)
        return Picked(services, await self.reader.current(key, services.view.keys), True)

    def _live(self, pointer: Any) -> Services:
        services = self._by_pointer.get(pointer)
        if services is None:
            services = self.services_for(self.registry.pointed_at(pointer))
            self._by_pointer[pointer] = services
        return services

    async def _named(self, name: str) -> Services:
        try:
            generation = await run_in_threadpool(self.registry.get, name)
        except GenerationError as exc:
            raise invalid(
                [{"loc": f"query.{GENERATION_PARAMETER}", "msg": str(exc), "type": "value_error"}]
            ) from None
        return self.services_for(generation)


def wanted_generation(principal: Principal, items: list[tuple[str, str]]) -> str | None:
    """The generation a request names (admins only: 403 for anyone else), if any."""
    named = [value for name, value in items if name == GENERATION_PARAMETER]
    if not named:
        return None
    if principal.role is not Role.ADMIN:
        raise ProblemError(403, "only an admin may read another generation")
    return named[0]  # repeated parameters are refused with the rest of the query
