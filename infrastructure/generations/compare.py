"""Comparing two generations over the read models, tenant by tenant and one student at a time
(never every document at once): each student as the class roster answers, from each
generation's own queries (mastery as of today, the 7-day prediction, the at-risk flag)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from infrastructure.generations.comparison import Comparison, Side
from infrastructure.generations.registry import Generation, glob_escaped
from infrastructure.redis_views.commands import Commands, RedisClient
from projections.queries import StudentQueries
from projections.view import StudentKey


def compare(
    client: RedisClient,
    a: Generation,
    b: Generation,
    queries_of: Callable[[Generation], StudentQueries],
    today: date,
    tenant_id: str | None = None,
) -> Comparison:
    comparison = Comparison(a.name, b.name)
    qa, qb = queries_of(a), queries_of(b)
    tenants = [tenant_id] if tenant_id else sorted(_tenants(client, a) | _tenants(client, b))
    for tenant in tenants:
        for student in _students(qa, qb, tenant):  # one student at a time, both sides
            key = StudentKey(tenant, student)
            comparison.add(f"{tenant}/{student}", _side(qa, key, today), _side(qb, key, today))
    return comparison


def _side(queries: StudentQueries, key: StudentKey, today: date) -> Side | None:
    if queries.view.current(key) is None:
        return None
    entry = queries.roster_entry(key, today)
    return Side(entry.score, entry.mastery.level, entry.at_risk)


def _students(qa: StudentQueries, qb: StudentQueries, tenant: str) -> list[str]:
    members = qa.view.tenant_roster(tenant).members + qb.view.tenant_roster(tenant).members
    return sorted({student for student, _ in members})


def _tenants(client: RedisClient, generation: Generation) -> set[str]:
    """The tenants with a roster in the generation (SCAN, never KEYS)."""
    pattern = f"{glob_escaped(generation.prefix)}tenant:{{*}}:students"
    found = set()
    for raw in Commands(client).scan(pattern):
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        tag = name[len(generation.prefix) :]
        found.add(tag.removeprefix("tenant:{").removesuffix("}:students"))
    return found
