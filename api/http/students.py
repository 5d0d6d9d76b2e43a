"""``/v1/students``: the students a caller may read, found and paged; ``/v1/students/{id}/...``:
one student's mastery, history, topics, prediction, recommendations, events and timeline. Each
reader runs in the thread pool, after the guard."""

from __future__ import annotations

from datetime import date
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from api.http.directory_models import StudentsOut, StudentsQuery
from api.http.event_pages import EventOut, EventsOut, EventsQuery, TimelineOut, TimelineQuery
from api.http.guard import directory_route, student_route
from api.http.models import (
    ErasureOut,
    HistoryOut,
    HistoryQuery,
    MasteryOut,
    MasteryQuery,
    NoQuery,
    PredictionQuery,
    RecommendationsOut,
    SnapshotOut,
    StudentPredictionOut,
    SubjectExportOut,
    TopicsOut,
)
from api.http.problems import invalid
from api.http.services import Services
from infrastructure.auth.policy import Role
from infrastructure.compliance.erasure import erase_student
from infrastructure.compliance.exports import subject_document
from projections.directory import Directory, Scope
from projections.queries import MasteryRead
from projections.view import StudentKey


def students(services: Services, scope: Scope, query: StudentsQuery) -> StudentsOut:
    directory = Directory(services.queries)
    page = directory.students(scope, query.wanted(), query.cursor, query.limit)
    return StudentsOut.of(scope.tenant_id, services.queries.today(), page)


def mastery(services: Services, key: StudentKey, query: MasteryQuery) -> Response:
    queries = services.queries
    stale = False
    if query.min_position is not None:
        stale = not queries.wait_for(query.min_position, query.wait_ms / 1000)
    as_of = query.as_of or queries.today()
    return _mastery_response(services, key, queries.mastery(key, as_of), as_of, stale)


async def mastery_on_loop(
    services: Services, key: StudentKey, query: MasteryQuery, document: dict[str, Any] | None
) -> Response | None:
    """The common case without leaving the event loop: no position to wait for, and a date on
    or after the student's last activity (the current ``document``, read with the live
    pointer, carried forward)."""
    if document is None or query.min_position is not None:
        return None
    as_of = query.as_of or services.queries.today()
    read = services.queries.from_current(key, document, as_of)
    return None if read is None else _mastery_response(services, key, read, as_of, stale=False)


# Before the first event there is nothing to go on, so nothing to advise.
NO_ADVICE: dict[str, list[str]] = {"recommendations": [], "learning_path": []}


def _mastery_response(
    services: Services, key: StudentKey, read: MasteryRead, as_of: date, stale: bool
) -> Response:
    def render() -> bytes:
        body = MasteryOut.model_validate(
            {
                **read.mastery.to_document(),
                **(NO_ADVICE if read.no_data else {}),
                "tenant_id": key.tenant_id,
                "student_id": key.student_id,
                "position": read.position,
                "source": read.source,
                "stale": stale,
                "no_data": read.no_data,
                "generation": services.generation,
            }
        )
        return body.model_dump_json(by_alias=True).encode()

    if read.position is None:  # a replay: nothing names its version, so it is not kept
        content = render()
    else:
        content = services.responses.get_or_render(
            (key, read.position, as_of, read.source, stale), render
        )
    return Response(content, media_type="application/json")


def _generation_of(services: Services) -> dict[str, str]:
    """Which read models answered (SPEC §4b)."""
    return {"generation": services.generation, "formula": services.formula}


def history(services: Services, key: StudentKey, query: HistoryQuery) -> HistoryOut:
    try:
        start, end = query.dates(services.queries.today())
    except ValueError as exc:
        raise invalid([{"loc": "query.from", "msg": str(exc), "type": "value_error"}]) from None
    read = services.queries.filled_history if query.fill else services.queries.history
    snapshots = read(key, start, end)
    if not snapshots:
        services.queries.mastery(key, end)  # 404 for an unknown student
    return HistoryOut.model_validate(
        {
            **_generation_of(services),
            "tenant_id": key.tenant_id,
            "student_id": key.student_id,
            "from": start,
            "to": end,
            "snapshots": [SnapshotOut.of(m) for m in snapshots],
        }
    )


def topics(services: Services, key: StudentKey, _: NoQuery) -> TopicsOut:
    latest = services.queries.latest(key).mastery
    document = latest.to_document()
    return TopicsOut.model_validate(
        {
            **_generation_of(services),
            "tenant_id": key.tenant_id,
            "student_id": key.student_id,
            "as_of": latest.as_of,
            "topics": document["topics"],
        }
    )


def prediction(services: Services, key: StudentKey, query: PredictionQuery) -> StudentPredictionOut:
    queries = services.queries
    as_of = query.as_of or queries.today()
    now, forecast = queries.prediction(key, as_of, query.days)
    return StudentPredictionOut.model_validate(
        {
            **forecast.to_document(),
            **_generation_of(services),
            "tenant_id": key.tenant_id,
            "student_id": key.student_id,
            "as_of": as_of,
            "current_score": now.to_document(with_topics=False)["mastery_score"],
        }
    )


def recommendations(services: Services, key: StudentKey, _: NoQuery) -> RecommendationsOut:
    latest = services.queries.latest(key).mastery
    document = latest.to_document()
    return RecommendationsOut.model_validate(
        {
            **_generation_of(services),
            "tenant_id": key.tenant_id,
            "student_id": key.student_id,
            "as_of": latest.as_of,
            "recommendations": document["recommendations"],
            "learning_path": document["learning_path"],
        }
    )


def events(services: Services, key: StudentKey, query: EventsQuery) -> EventsOut:
    page, following = services.queries.timeline(key).events_after(query.after_key, query.limit)
    return EventsOut(
        tenant_id=key.tenant_id,
        student_id=key.student_id,
        events=[EventOut.of(e, key.tenant_id, key.student_id) for e in page],
        next=following,
    )


def timeline(services: Services, key: StudentKey, query: TimelineQuery) -> TimelineOut:
    replay = services.queries.timeline(key)
    steps, following = replay.timeline_page(query.after_key, query.limit, full=query.full)
    return TimelineOut.model_validate(
        {
            "tenant_id": key.tenant_id,
            "student_id": key.student_id,
            "step_count": len(replay.events),
            "steps": steps,
            "next": following,
        }
    )


def export(services: Services, key: StudentKey, _: NoQuery) -> SubjectExportOut:
    document = subject_document(
        services.application.mapper,
        services.view,
        services.settings.require_database_url(),
        key.tenant_id,
        key.student_id,
    )
    if not document["erased"] and not document["events"]:
        services.queries.mastery(key, services.queries.today())  # 404 for an unknown student
    return SubjectExportOut.model_validate(document)


def erase(services: Services, key: StudentKey, _: NoQuery) -> ErasureOut:
    erasure = erase_student(
        services.application,
        services.view,
        services.settings.require_database_url(),
        key.tenant_id,
        key.student_id,
        requested_by="api",
        reason="erasure request",
        generations=services.generation_views,
    )
    return ErasureOut(
        tenant_id=key.tenant_id,
        student_id=key.student_id,
        erased=True,
        erased_now=erasure.erased_now,
        events_kept=erasure.events_kept,
    )


STUDENT = "/v1/students/{id}"
SUBJECT_OR_ADMIN = frozenset({Role.STUDENT, Role.ADMIN})

routes: list[Route] = [
    directory_route("/v1/students", "list_students", StudentsQuery, students),
    student_route(
        STUDENT,
        "erase_student",
        NoQuery,
        erase,
        method="DELETE",
        roles=frozenset({Role.ADMIN}),
        erased_readable=True,
    ),
    student_route(
        f"{STUDENT}/export",
        "export_student",
        NoQuery,
        export,
        roles=SUBJECT_OR_ADMIN,
        erased_readable=True,
    ),
    student_route(
        f"{STUDENT}/mastery", "read_mastery", MasteryQuery, mastery, fast=mastery_on_loop
    ),
    student_route(f"{STUDENT}/mastery/history", "read_history", HistoryQuery, history),
    student_route(f"{STUDENT}/topics", "read_topics", NoQuery, topics),
    student_route(f"{STUDENT}/prediction", "read_prediction", PredictionQuery, prediction),
    student_route(f"{STUDENT}/recommendations", "read_recommendations", NoQuery, recommendations),
    student_route(f"{STUDENT}/events", "read_events", EventsQuery, events),
    student_route(f"{STUDENT}/timeline", "read_timeline", TimelineQuery, timeline),
]
