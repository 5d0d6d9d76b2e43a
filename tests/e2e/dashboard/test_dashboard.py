"""The dashboard (SPEC §11) in a real headless chromium against the real API: a teacher's
classes, a class's roster and heatmap, a student's page whose chart is the API's history, a
student who sees only themself, an expired sign-in, an admin's overview, an erased student."""

from __future__ import annotations

import json
from datetime import timedelta

from playwright.sync_api import Page, Route, expect

from tests.e2e.dashboard.support import WAIT_MS, Cohort
from tests.e2e.http.support import Api


def open_signed_in(page: Page, api: Api, token: str, route: str = "") -> None:
    page.goto(f"{api.base_url}/dashboard/#token={token}")
    expect(page.locator("h1")).not_to_have_text("Sign in", timeout=WAIT_MS)
    if route:
        page.evaluate("route => { location.hash = route; }", route)


def teacher(api: Api, cohort: Cohort, *classes: str) -> str:
    return api.tokens.mint("teacher", "ms-lee", cohort.tenant, classes=list(classes))


def test_a_teacher_signs_in_by_link_and_sees_their_classes(
    page: Page, api: Api, cohort: Cohort
) -> None:
    first, second, _ = cohort.rosters
    open_signed_in(page, api, teacher(api, cohort, first, second))
    expect(page.locator("h1")).to_have_text("My classes")
    expect(page.locator(".class-card h2")).to_have_text([f"Class {first}", f"Class {second}"])
    assert "token" not in page.url  # the token left the address bar
    assert page.evaluate("sessionStorage.getItem('mastery.token')")


def roster_ids(page: Page) -> list[str]:
    return page.locator(".roster tbody tr").evaluate_all("rows => rows.map(r => r.dataset.student)")


def test_the_class_page_sorts_and_filters_the_roster_and_shows_the_heatmap(
    page: Page, api: Api, cohort: Cohort
) -> None:
    first = next(iter(cohort.rosters))
    token = teacher(api, cohort, first)
    open_signed_in(page, api, token, f"#/class/{first}")
    expect(page.locator("h1")).to_have_text(f"Class {first}")
    expect(page.locator(".roster tbody tr")).to_have_count(len(cohort.rosters[first]))
    assert roster_ids(page) == cohort.rosters[first]  # by student id at first

    roster = api.as_("teacher", "ms-lee", cohort.tenant, classes=[first]).get(
        f"/v1/classes/{first}/mastery"
    )
    scores = {s["student_id"]: s["mastery_score"] for s in roster.json()["students"]}
    page.get_by_role("button", name="Mastery", exact=True).click()
    ascending = roster_ids(page)
    assert [scores[s] for s in ascending] == sorted(scores.values())
    page.get_by_role("button", name="Mastery", exact=True).click()
    assert [scores[s] for s in roster_ids(page)] == sorted(scores.values(), reverse=True)
    expect(page.locator("th[aria-sort=descending]")).to_contain_text("Mastery")

    wanted = cohort.rosters[first][1]
    page.get_by_role("searchbox", name="Student").fill(wanted)
    assert roster_ids(page) == [wanted]
    page.get_by_role("searchbox", name="Student").fill("")

    expect(page.locator("#view[data-details-loaded]")).to_be_attached(timeout=WAIT_MS)
    heat_rows = page.locator(".heatmap tbody tr")
    expect(heat_rows).to_have_count(len(cohort.rosters[first]))
    assert page.locator(".heatmap td.heat").count() > 0
    sparks = page.locator("mastery-sparkline[data-points]")
    expect(sparks).to_have_count(len(cohort.rosters[first]))


def test_the_student_page_charts_the_daily_history_of_the_api(
    page: Page, api: Api, cohort: Cohort
) -> None:
    first = next(iter(cohort.rosters))
    student = max(cohort.rosters[first], key=lambda s: cohort.events[s])
    assert cohort.events[student] > 20  # more than one page of events
    open_signed_in(page, api, teacher(api, cohort, first), f"#/class/{first}")
    page.get_by_role("link", name=student, exact=True).first.click()
    expect(page.locator("h1")).to_have_text(f"Student {student}")
    chart = page.locator("mastery-chart[data-points]")
    expect(chart).to_be_attached(timeout=WAIT_MS)
    drawn = json.loads(chart.get_attribute("data-points") or "[]")

    client = api.as_("teacher", "ms-lee", cohort.tenant, classes=[first])
    history = client.get(f"/v1/students/{student}/mastery/history", params={"fill": "true"})
    expected = [[s["as_of"], s["mastery_score"]] for s in history.json()["snapshots"]]
    assert drawn == expected and len(expected) > 20
    table = page.locator("table.chart-data tbody tr")
    expect(table).to_have_count(len(expected))  # the chart's text alternative, row per day
    expect(page.locator("mastery-chart canvas")).to_have_count(1)
    expect(page.locator("mastery-chart > .visually-hidden table.chart-data")).to_have_count(1)

    expect(page.locator(".events tbody tr")).to_have_count(20)
    page.get_by_role("button", name="Show more events").click()
    expect(page.locator(".events tbody tr")).to_have_count(min(40, cohort.events[student]))
    expect(page.get_by_role("heading", name="Learning path")).to_be_visible()


def test_a_student_sees_only_themself(page: Page, api: Api, cohort: Cohort) -> None:
    me, other = cohort.students()[:2]
    open_signed_in(page, api, api.tokens.mint("student", me, cohort.tenant))
    expect(page.locator("h1")).to_have_text(f"Student {me}")
    assert page.url.endswith(f"#/student/{me}")
    page.evaluate("route => { location.hash = route; }", f"#/student/{other}")
    expect(page.get_by_role("alert")).to_have_text("You are not allowed to see this student.")
    expect(page.locator("mastery-chart")).to_have_count(0)


def test_a_teacher_is_refused_another_class_in_words(page: Page, api: Api, cohort: Cohort) -> None:
    mine, other, _ = cohort.rosters
    open_signed_in(page, api, teacher(api, cohort, mine), f"#/class/{other}")
    expect(page.get_by_role("alert")).to_have_text("You are not allowed to see this class.")
    expect(page.locator(".roster")).to_have_count(0)


def test_an_expired_or_refused_token_asks_to_sign_in_again(
    page: Page, api: Api, cohort: Cohort
) -> None:
    expired = api.tokens.mint("teacher", "ms-lee", cohort.tenant, ttl=timedelta(minutes=-5))
    page.goto(f"{api.base_url}/dashboard/#token={expired}")
    expect(page.locator("h1")).to_have_text("Sign in")
    expect(page.get_by_role("alert")).to_contain_text("expired")

    forged = teacher(api, cohort, "x")[:-4] + "AAAA"  # the server refuses it: 401
    page.get_by_label("Your access token").fill(forged)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("expired or is not valid")
    expect(page.locator("h1")).to_have_text("Sign in")

    page.get_by_label("Your access token").fill(teacher(api, cohort, "x"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_have_text("My classes")


def test_the_admin_sees_the_tenant_at_a_glance_and_finds_a_student(
    page: Page, api: Api, cohort: Cohort
) -> None:
    open_signed_in(page, api, api.tokens.mint("admin", "root", cohort.tenant))
    expect(page.locator("h1")).to_have_text("Overview")
    counts = page.locator(".levels tbody td:nth-child(2)").all_inner_texts()
    assert sum(int(n) for n in counts) == len(cohort.students())
    expect(page.locator("#health-title + table")).to_contain_text("mastery")
    expect(page.locator(".broker")).to_have_text("Kafka is not configured for this service.")
    wanted = cohort.students()[3]
    page.get_by_label("Student id contains").fill(wanted.upper())
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#results li a")).to_have_text([wanted])
    page.locator("#results li a").click()
    expect(page.locator("h1")).to_have_text(f"Student {wanted}")


def test_the_admin_sees_the_ingest_backlog_and_the_dead_letters_or_why_not(
    page: Page, api: Api, cohort: Cohort
) -> None:
    """The API's own status, with the broker's answer put in: figures, then an error."""
    kafka: dict[str, object] = {"requests_waiting": 1, "dead_letters": 12}

    def with_kafka(route: Route) -> None:
        body = route.fetch().json()
        assert body["kafka"] is None  # this API has no Kafka: the figures are the test's
        route.fulfill(json={**body, "kafka": kafka})

    page.route("**/v1/status", with_kafka)
    open_signed_in(page, api, api.tokens.mint("admin", "root", cohort.tenant))
    rows = page.locator("table.broker tr")
    expect(rows).to_have_text(
        [
            "Waiting to be ingested1 message",
            "Dead letters (rejected messages kept for inspection)12 messages",
        ]
    )
    kafka = {"error": "the broker did not answer within 2 s"}
    page.reload()
    expect(page.locator(".broker")).to_have_text(
        "Kafka is not answering right now (the broker did not answer within 2 s)."
    )


def test_an_erased_student_is_said_to_be_erased(page: Page, api: Api, cohort: Cohort) -> None:
    gone = cohort.students()[-1]
    admin = api.as_("admin", "root", cohort.tenant)
    response = admin.delete(f"/v1/students/{gone}")
    assert response.status_code == 200, response.text
    open_signed_in(page, api, api.tokens.mint("admin", "root", cohort.tenant), f"#/student/{gone}")
    expect(page.get_by_role("alert")).to_have_text(
        "This student's data has been erased at their request."
    )


def test_a_service_that_does_not_answer_is_said_so(page: Page, api: Api, cohort: Cohort) -> None:
    """Unreachable (the connection fails) and unavailable (503) read the same to a teacher."""
    first = next(iter(cohort.rosters))
    open_signed_in(page, api, teacher(api, cohort, first))
    expect(page.locator("h1")).to_have_text("My classes")
    page.route("**/v1/classes/*/mastery", lambda route: route.abort())
    page.evaluate("route => { location.hash = route; }", f"#/class/{first}")
    expect(page.get_by_role("alert")).to_have_text(DOWN)

    page.unroute("**/v1/classes/*/mastery")
    page.route("**/v1/students/*/mastery", lambda route: route.fulfill(status=503, body="{}"))
    page.evaluate("route => { location.hash = route; }", f"#/student/{cohort.rosters[first][0]}")
    expect(page.get_by_role("alert")).to_have_text(DOWN)


DOWN = "The service is not answering right now. Please try again in a minute."


def test_without_the_chart_library_the_chart_is_its_table(
    page: Page, api: Api, cohort: Cohort
) -> None:
    """A checkout where `make install` has not copied uPlot still shows every day's mastery."""
    student = cohort.students()[0]
    page.route("**/vendor/uPlot.esm.js", lambda route: route.fulfill(status=404, body=""))
    token = api.tokens.mint("student", student, cohort.tenant)
    open_signed_in(page, api, token)
    expect(page.locator("table.chart-data")).to_be_attached(timeout=WAIT_MS)
    expect(page.locator("mastery-chart .visually-hidden")).to_have_count(0, timeout=WAIT_MS)
    expect(page.locator("mastery-chart canvas")).to_have_count(0)
    box = page.locator("table.chart-data").bounding_box()
    assert box is not None and box["height"] > 100  # shown, a row per day
    expect(page.get_by_role("heading", name="Components")).to_be_visible()


def test_the_dashboard_is_served_with_its_files_and_nothing_from_elsewhere(api: Api) -> None:
    shell = api.client.get("/dashboard", follow_redirects=True)
    assert shell.status_code == 200 and shell.url.path == "/dashboard/"
    assert shell.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in shell.text  # the page may load nothing from another origin
    script = api.client.get("/dashboard/js/main.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")  # module scripts need it
    assert api.client.get("/dashboard/vendor/uPlot.esm.js").status_code == 200
    missing = api.client.get("/dashboard/no-such-file.js")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
