"""``/v1/classes``: the classes a caller may read, with counts; ``/v1/classes/{id}/mastery``: a
class roster with each student's mastery and prediction."""

from __future__ import annotations

from starlette.routing import Route

from api.http.directory_models import ClassesOut, ClassSummaryOut
from api.http.guard import class_route, directory_route
from api.http.models import ClassMasteryOut, NoQuery, PredictionOut, RosterStudentOut
from api.http.problems import ProblemError
from api.http.services import Services
from projections.directory import Directory, Scope


def class_mastery(services: Services, tenant_id: str, class_id: str, _: NoQuery) -> ClassMasteryOut:
    entries = services.queries.class_roster(tenant_id, class_id)
    if entries is None:
        raise ProblemError(404, "unknown class")
    return ClassMasteryOut(
        tenant_id=tenant_id,
        class_id=class_id,
        as_of=services.queries.today(),
        students=[
            RosterStudentOut(
                student_id=entry.student_id,
                mastery_score=entry.mastery.to_document(with_topics=False)["mastery_score"],
                level=entry.mastery.level,
                prediction=PredictionOut.of(entry.prediction),
                at_risk=entry.at_risk,
            )
            for entry in entries
        ],
    )


def classes(services: Services, scope: Scope, _: NoQuery) -> ClassesOut:
    summaries = Directory(services.queries).classes(scope)
    return ClassesOut(
        tenant_id=scope.tenant_id,
        as_of=services.queries.today(),
        classes=[ClassSummaryOut.of(summary) for summary in summaries],
    )


routes: list[Route] = [
    directory_route("/v1/classes", "list_classes", NoQuery, classes),
    class_route("/v1/classes/{id}/mastery", "read_class_mastery", NoQuery, class_mastery),
]
