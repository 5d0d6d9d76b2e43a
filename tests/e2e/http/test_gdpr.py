"""Erasure and subject export over HTTP (issue 6)."""

from __future__ import annotations

from tests.e2e.http.support import Api, event


def test_an_admin_erases_a_student_and_reads_then_answer_410(api: Api, tenant: str) -> None:
    service = api.as_("service", "agent", tenant)
    response = service.post(
        "/v1/events",
        json={
            "events": [
                *(event(f"g{i}", "gina", tenant, class_id="c1") for i in range(3)),
                event("h1", "hank", tenant, class_id="c1"),
            ]
        },
    )
    position = response.json()["position"]
    api.container.view.wait("mastery", position, timeout=10)
    student = api.as_("student", "gina", tenant)
    assert student.get("/v1/students/gina/mastery").status_code == 200

    assert (
        api.as_("teacher", "t1", tenant, classes=["c1"]).delete("/v1/students/gina").status_code
        == 403
    )
    assert student.delete("/v1/students/gina").status_code == 403

    admin = api.as_("admin", "dpo", tenant)
    erased = admin.delete("/v1/students/gina")
    assert erased.status_code == 200
    assert erased.json() == {
        "tenant_id": tenant,
        "student_id": "gina",
        "erased": True,
        "erased_now": True,
        "events_kept": 4,
    }
    assert admin.delete("/v1/students/gina").json()["erased_now"] is False

    for path in ("mastery", "events", "timeline"):
        gone = admin.get(f"/v1/students/gina/{path}")
        assert gone.status_code == 410, path
        assert gone.headers["content-type"].startswith("application/problem+json")
    assert admin.get("/v1/students/gina/events").status_code == 410
    export = admin.get("/v1/students/gina/export").json()
    assert export["erased"] is True and export["events"] == []
    again = service.post("/v1/events", json=event("g9", "gina", tenant))
    assert again.status_code == 422
    assert again.json()["outcome"]["code"] == "student_erased"
    assert "erased" in again.json()["detail"]
    roster = api.as_("teacher", "t1", tenant, classes=["c1"]).get("/v1/classes/c1/mastery")
    assert roster.status_code == 200, roster.text
    assert [s["student_id"] for s in roster.json()["students"]] == ["hank"]


def test_a_student_exports_everything_held_about_them(api: Api, tenant: str) -> None:
    service = api.as_("service", "agent", tenant)
    position = service.post(
        "/v1/events", json={"events": [event(f"x{i}", "xena", tenant) for i in range(2)]}
    ).json()["position"]
    api.container.view.wait("mastery", position, timeout=10)
    student = api.as_("student", "xena", tenant)
    student.get("/v1/students/xena/mastery")

    export = student.get("/v1/students/xena/export")
    assert export.status_code == 200
    body = export.json()
    assert body["erased"] is False
    assert [e["event_id"] for e in body["events"]] == ["x0", "x1"]
    assert body["current_mastery"]["student_id"] == "xena"
    assert body["snapshots"]
    assert (
        api.as_("teacher", "t2", tenant, students=["xena"])
        .get("/v1/students/xena/export")
        .status_code
        == 403
    )
    assert api.as_("student", "other", tenant).get("/v1/students/xena/export").status_code == 403
