"""The tenant's class set on real PostgreSQL and Redis (issue 13): read models built before it
existed lack it, and a rebuild fills it, and each student's classes, from the events."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infrastructure.bootstrap import Container, build
from infrastructure.settings import Settings
from infrastructure.synthetic import CohortShape, cohort_events
from projections.view import StudentKey
from tests.support import Connect

SHAPE = CohortShape(students=12, events=300, days=10, tenant_id="classes", seed=5)


@pytest.fixture
def built(full_settings: Settings) -> Iterator[Container]:
    with build(full_settings) as container:
        yield container


def test_a_rebuild_fills_the_class_set_that_older_read_models_lack(
    built: Container, full_settings: Settings, redis_connect: Connect
) -> None:
    events = list(cohort_events(SHAPE))
    built.ingest.ingest(events)
    built.projector.catch_up()
    classes = sorted({str(e["class_id"]) for e in events})
    students = sorted({str(e["student_id"]) for e in events})
    keys = [StudentKey("classes", s) for s in students]
    assert built.view.class_ids("classes") == classes
    memberships = built.view.classes_of(keys)
    assert all(memberships[key] for key in keys)

    client = redis_connect(full_settings)
    client.unlink(built.view.keys.tenant_classes("classes"))  # as a release before issue 13
    for key in keys:
        client.hdel(built.view.keys.projection(key.tenant_id, key.student_id), "classes")
    assert built.view.class_ids("classes") == []
    built.projector.rebuild()

    assert built.view.class_ids("classes") == classes
    assert built.view.classes_of(keys) == memberships
