"""Property-based run of the OpenAPI document against the live server (schemathesis): no 5xx,
every response within its documented status codes, media type and schema.

Operations are driven with hypothesis directly (schemathesis' pytest plugin does not support
this pytest version); both positive and negative (schema-violating) inputs are generated."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.http.support import Api, event

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
TENANT = "fuzz"


@pytest.mark.parametrize(
    "mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
)
def test_the_live_api_keeps_its_openapi_contract(
    api: Api, mode: schemathesis.GenerationMode
) -> None:
    service = api.as_("service", "agent", TENANT)
    events = [event(f"f{i}", "s1", TENANT, class_id="c1") for i in range(3)]
    position = service.post("/v1/events", json={"events": events}).json()["position"]
    api.container.view.wait("mastery", position, timeout=10)
    schema = schemathesis.openapi.from_url(f"{api.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 21  # 18 + POST and PUT /xapi/statements, GET /xapi/about

    for operation in operations:
        raw = schema.raw_schema["paths"][operation.path][operation.method.lower()]
        if mode is schemathesis.GenerationMode.NEGATIVE and not (
            raw["parameters"] or "requestBody" in raw
        ):
            continue  # nothing to violate
        role = "service" if operation.method.upper() in ("POST", "PUT") else "admin"
        headers = {"Authorization": f"Bearer {api.tokens.mint(role, 's1', TENANT)}"}

        strategy = operation.as_strategy(generation_mode=mode).map(
            lambda case, headers=headers: _authorized(case, headers)
        )

        @given(case=strategy)
        @settings(
            max_examples=20,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=api.base_url, headers=case.headers, checks=CHECKS)

        check()


def _authorized(case: schemathesis.Case, headers: dict[str, str]) -> schemathesis.Case:
    case.headers = {**(case.headers or {}), **headers}
    return case
