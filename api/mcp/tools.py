"""The MCP tools and the mastery resource (SPEC §13).

Each tool answers through the very reader its ``/v1`` route uses (``api.http.students``,
``api.http.classes``, ``api.http.events``) with the caller's rights checked as the route checks
them (``McpCall``), so a tool's answer is the route's answer. Tools are synchronous: the SDK runs
them on worker threads, as the API runs its readers in the thread pool.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import orjson
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.resources import ResourceSecurity
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from api.http import classes, students
from api.http.directory_models import CURSOR_PATTERN, MAX_STUDENTS_PAGE, StudentsOut, StudentsQuery
from api.http.events import in_tenant, ingest_out, ingested
from api.http.models import (
    IngestOut,
    MasteryOut,
    MasteryQuery,
    NoQuery,
    PredictionQuery,
    StudentPredictionOut,
)
from api.http.problems import field_errors, invalid
from api.mcp.calls import McpCall, answered, current_call, resource_error
from api.mcp.explanation import explanation
from api.mcp.models import (
    AsOf,
    ClassId,
    ClassOverviewOut,
    Days,
    ExplanationOut,
    LearningEventArgument,
    NextStepsOut,
    StudentId,
)
from domain.identifiers import check_identifier
from projections.directory import Scope

MASTERY_RESOURCE = "mastery://students/{student_id}/mastery"
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
RECORDS = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
Q = TypeVar("Q", bound=BaseModel)


def _query(model: type[Q], values: dict[str, Any]) -> Q:
    """The route's own query model, so a tool's arguments pass the route's checks."""
    try:
        return model.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        raise invalid(field_errors(exc, "arguments")) from None


def _mastery(call: McpCall, student_id: str, as_of: Any) -> MasteryOut:
    key = call.student(student_id)
    query = _query(MasteryQuery, {"as_of": as_of})
    response = students.mastery(call.services, key, query)
    return MasteryOut.model_validate_json(bytes(response.body))


@answered
def get_mastery(student_id: StudentId, as_of: AsOf = None) -> MasteryOut:
    """A student's mastery as of a date: score, level, the four components and their weighted
    breakdown, evidence counts, per-topic mastery, recommendations and learning path. The same
    answer as GET /v1/students/{id}/mastery."""
    return _mastery(current_call(), student_id, as_of)


@answered
def explain_mastery(student_id: StudentId, as_of: AsOf = None) -> ExplanationOut:
    """Why a student's mastery is what it is, in words and numbers: each component's value,
    weight, contribution and evidence; the formula; how far the next level is; and the one
    component that would raise the score most (largest weight x headroom), and by how much."""
    return explanation(_mastery(current_call(), student_id, as_of))


@answered
def recommend_next(student_id: StudentId) -> NextStepsOut:
    """What the student should do next: the recommendations in priority order (the first one
    picked out as `next`) and the learning path. The same answer as
    GET /v1/students/{id}/recommendations, plus `next` and `next_activity`."""
    call = current_call()
    key = call.student(student_id)
    answer = students.recommendations(call.services, key, NoQuery())
    return NextStepsOut(
        **answer.model_dump(),
        next=answer.recommendations[0] if answer.recommendations else None,
        next_activity=answer.learning_path[0] if answer.learning_path else None,
    )


@answered
def class_overview(class_id: ClassId) -> ClassOverviewOut:
    """A class today: student count, mean mastery and how many are at risk (as GET /v1/classes
    lists it), and each student's mastery, level, 7-day prediction and at-risk flag (as
    GET /v1/classes/{id}/mastery answers)."""
    call = current_call()
    class_id = call.school_class(class_id)
    principal = call.caller()
    roster = classes.class_mastery(call.services, principal.tenant_id, class_id, NoQuery())
    scope = Scope(principal.tenant_id, classes=frozenset({class_id}))
    summaries = classes.classes(call.services, scope, NoQuery()).classes
    return ClassOverviewOut(
        tenant_id=roster.tenant_id,
        class_id=roster.class_id,
        as_of=roster.as_of,
        summary=summaries[0],
        students=roster.students,
    )


@answered
def at_risk_students(
    class_id: Annotated[
        ClassId | None, Field(description="Only this class's students; default all you may read.")
    ] = None,
    limit: Annotated[int, Field(ge=1, le=MAX_STUDENTS_PAGE, description="Students per page.")] = 50,
    cursor: Annotated[
        str | None,
        Field(pattern=CURSOR_PATTERN, description="`next_cursor` of the previous page."),
    ] = None,
) -> StudentsOut:
    """The students at risk today (mastery below 0.5, or predicted below 0.5 in 7 days) among
    those the token may read, by id and paged. The same answer as
    GET /v1/students?at_risk=true (&class=)."""
    call = current_call()
    scope = call.scope(class_id)
    query = _query(
        StudentsQuery, {"class": class_id, "at_risk": True, "limit": limit, "cursor": cursor}
    )
    return students.students(call.services, scope, query)


@answered
def predict(student_id: StudentId, days: Days = 7, as_of: AsOf = None) -> StudentPredictionOut:
    """The student's predicted mastery `days` ahead of `as_of` (a straight line through the
    latest daily snapshots): predicted score, trend, confidence and whether to intervene. The
    same answer as GET /v1/students/{id}/prediction."""
    call = current_call()
    key = call.student(student_id)
    query = _query(PredictionQuery, {"days": days, "as_of": as_of})
    return students.prediction(call.services, key, query)


@answered
def record_learning_event(event: LearningEventArgument) -> IngestOut:
    """Record one learning event (service tokens only) through the same validation and
    idempotent write path as POST /v1/events: the outcome is `recorded`, `duplicate`,
    `conflict` or `rejected` with field errors, and `position` is the event store position to
    wait for before reading."""
    call = current_call()
    principal = call.ingester()
    report = ingested(call.services, [in_tenant(event, principal)])
    return ingest_out(report)


def mastery_resource(student_id: str) -> str:
    """The student's mastery document as of today (GET /v1/students/{id}/mastery)."""
    call = current_call()
    try:
        document = _mastery(call, _student_of_uri(student_id), None)
    except Exception as exc:
        raise resource_error(exc) from None
    call.status = 200
    return orjson.dumps(document.model_dump(mode="json")).decode()


def _student_of_uri(student_id: str) -> str:
    try:
        return check_identifier("student", student_id)
    except ValueError as exc:
        raise invalid([{"loc": "uri.student_id", "msg": str(exc), "type": "pattern"}]) from None


TOOLS = (
    get_mastery,
    explain_mastery,
    recommend_next,
    class_overview,
    at_risk_students,
    predict,
    record_learning_event,
)
TOOL_NAMES = frozenset(tool.__name__ for tool in TOOLS)


def register(server: MCPServer[Any]) -> None:
    for tool in TOOLS:
        annotations = RECORDS if tool is record_learning_event else READ_ONLY
        server.add_tool(tool, annotations=annotations, structured_output=True)
    server.resource(
        MASTERY_RESOURCE,
        name="student_mastery",
        title="A student's mastery",
        description="The student's current mastery document, as GET /v1/students/{id}/mastery "
        "answers it (the same rights apply).",
        mime_type="application/json",
        # The id is checked against the identifier rules here; it never reaches a file path.
        security=ResourceSecurity(exempt_params={"student_id"}),
    )(mastery_resource)
