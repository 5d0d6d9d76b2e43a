"""xAPI statements for tests: the fixtures of tests/fixtures/xapi/ and a builder of statements
with the verbs and results the default mapping reads."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "xapi"
ADL = "http://adlnet.gov/expapi/verbs/"
ACTIVITY_TYPES = "http://adlnet.gov/expapi/activities/"
PROGRESS = "https://w3id.org/xapi/cmi5/result/extensions/progress"
HEADERS_1 = {"X-Experience-API-Version": "1.0.3"}
HEADERS_2 = {"X-Experience-API-Version": "2.0.0"}


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return loaded


def fixture_names(folder: str) -> list[str]:
    return sorted(f"{folder}/{path.name}" for path in (FIXTURES / folder).glob("*.json"))


def statement(
    student: str,
    verb: str,
    *,
    activity: str = "http://lms.example.com/courses/python/loops",
    activity_type: str | None = None,
    result: dict[str, Any] | None = None,
    when: datetime | None = None,
    statement_id: str | None = None,
    course: str | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    """A statement by the account ``student`` of ``http://lms.example.com``; ``verb`` is an ADL
    verb's last segment or a whole IRI."""
    moment = when or datetime.now(UTC) - timedelta(hours=1)
    verb_id = verb if ":" in verb else ADL + verb
    body: dict[str, Any] = {
        "id": statement_id or str(uuid.uuid4()),
        "actor": {
            "objectType": "Agent",
            "account": {"homePage": "http://lms.example.com", "name": student},
        },
        "verb": {"id": verb_id, "display": {"en-US": verb_id.rsplit("/", 1)[-1]}},
        "object": {"objectType": "Activity", "id": activity},
        "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
    }
    if activity_type is not None:
        kind = activity_type if ":" in activity_type else ACTIVITY_TYPES + activity_type
        body["object"]["definition"] = {"type": kind, "name": {"en-US": "an activity"}}
    if result is not None:
        body["result"] = result
    if course is not None:
        body["context"] = {
            "contextActivities": {
                "grouping": [
                    {
                        "objectType": "Activity",
                        "id": f"http://lms.example.com/course/{course}",
                        "definition": {"type": ACTIVITY_TYPES + "course"},
                    }
                ]
            }
        }
    if version is not None:
        body["version"] = version
    return body
