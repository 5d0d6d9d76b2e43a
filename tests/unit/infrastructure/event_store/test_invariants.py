"""The store check's rules, on hand-made facts (no database)."""

from __future__ import annotations

from uuid import UUID, uuid4

from infrastructure.event_store.check_facts import FactKind, IdRow, Location, StoredFact, Target
from infrastructure.event_store.check_report import Kind
from infrastructure.event_store.invariants import check_student, classify_unmatched
from infrastructure.event_store.repair_plan import plan_repairs

ANN = uuid4()


def enrolment(originator: UUID = ANN, notification: int = 1) -> StoredFact:
    return StoredFact(originator, 1, notification, FactKind.ENROLLED, tenant_id="t", student_id="s")


def learning(
    version: int,
    notification: int,
    event_id: str,
    *,
    with_row: bool = True,
    content: str = "aa",
    originator: UUID = ANN,
) -> StoredFact:
    rows = (IdRow("t", event_id, content, originator, version),) if with_row else ()
    return StoredFact(
        originator,
        version,
        notification,
        FactKind.LEARNING,
        event_id=event_id,
        content_hash=content,
        id_rows=rows,
    )


def test_an_intact_history_has_no_problem() -> None:
    found = check_student([enrolment(), learning(2, 5, "a"), learning(3, 9, "b")])
    assert found.problems == []
    assert found.unmatched == []


def test_missing_versions_are_listed_and_need_manual_action() -> None:
    found = check_student([enrolment(), learning(2, 2, "a"), learning(5, 3, "b")])
    (gap,) = found.problems
    assert gap.kind is Kind.VERSION_GAP
    assert gap.versions == (3, 4)
    assert gap.detail == "2 version(s) missing up to version 5"
    assert gap.manual is not None


def test_a_later_version_with_a_lower_notification_id_is_an_order_problem() -> None:
    found = check_student([enrolment(), learning(2, 7, "a"), learning(3, 4, "b")])
    (order,) = found.problems
    assert order.kind is Kind.VERSION_ORDER
    assert (order.versions, order.notification_ids) == ((2, 3), (7, 4))
    assert (
        order.detail == "version 3 was committed (notification 4) before version 2 (notification 7)"
    )
    assert order.manual is None


def test_an_enrolment_that_is_not_the_first_commit_cannot_be_reordered() -> None:
    found = check_student([enrolment(notification=9), learning(2, 3, "a")])
    (order,) = found.problems
    assert order.kind is Kind.VERSION_ORDER
    assert order.manual is not None


def test_an_id_row_naming_another_event_is_a_mismatch_and_leaves_the_event_unmatched() -> None:
    wrong = IdRow("t", "other", "aa", ANN, 2)
    fact = StoredFact(
        ANN, 2, 2, FactKind.LEARNING, event_id="a", content_hash="aa", id_rows=(wrong,)
    )
    found = check_student([enrolment(), fact])
    (mismatch,) = found.problems
    assert (mismatch.kind, mismatch.event_id) == (Kind.ID_ROW_MISMATCH, "other")
    assert [u.fact.event_id for u in found.unmatched] == ["a"]


def test_unmatched_events_are_classified_by_where_their_id_row_points() -> None:
    copy = learning(4, 8, "a", with_row=False)
    lonely = learning(5, 9, "b", with_row=False)
    twin_one = learning(6, 10, "c", with_row=False)
    twin_two = learning(7, 11, "c", with_row=False)
    unmatched = check_student([enrolment(), learning(2, 2, "a"), learning(3, 3, "x"), copy,
                               lonely, twin_one, twin_two]).unmatched  # fmt: skip
    original = Location(ANN, 2, 2)
    targets = {("t", "a"): Target(IdRow("t", "a", "aa", ANN, 2), original, "t", "a")}
    problems = {p.versions: p for p in classify_unmatched(unmatched, targets)}

    assert problems[(4,)].kind is Kind.DUPLICATE
    assert problems[(4,)].original == original
    assert problems[(4,)].manual is None
    assert (problems[(5,)].kind, problems[(5,)].manual) == (Kind.MISSING_ID_ROW, None)
    assert problems[(6,)].kind is problems[(7,)].kind is Kind.DUPLICATE
    assert problems[(6,)].manual is not None  # no copy has the row: which one to keep?


def test_a_copy_with_different_content_is_not_deleted() -> None:
    (unmatched,) = check_student(
        [enrolment(), learning(2, 2, "a"), learning(3, 3, "a", with_row=False, content="bb")]
    ).unmatched
    target = Target(IdRow("t", "a", "aa", ANN, 2), Location(ANN, 2, 2), "t", "a")
    (problem,) = classify_unmatched([unmatched], {("t", "a"): target})
    assert problem.kind is Kind.DUPLICATE
    assert problem.manual is not None


def test_the_plan_deletes_the_copy_renumbers_and_restores_rows_at_the_new_versions() -> None:
    facts = [
        enrolment(),
        learning(2, 2, "a"),
        learning(3, 3, "a", with_row=False),
        learning(4, 4, "b"),
        learning(5, 5, "c", with_row=False),
    ]
    found = check_student(facts)
    targets = {("t", "a"): Target(IdRow("t", "a", "aa", ANN, 2), Location(ANN, 2, 2), "t", "a")}
    problems = found.problems + classify_unmatched(found.unmatched, targets)
    planned, (repair,) = plan_repairs({ANN: facts}, problems)

    assert [d.version for d in repair.deletes] == [3]
    assert repair.moves == ((4, 3), (5, 4))
    assert [(r.event_id, r.originator_version) for r in repair.restores] == [("c", 4)]
    assert all(p.repair for p in planned)


def test_the_plan_follows_commit_order_for_an_order_problem() -> None:
    facts = [enrolment(), learning(2, 9, "a"), learning(3, 4, "b"), learning(4, 6, "c")]
    _, (repair,) = plan_repairs({ANN: facts}, check_student(facts).problems)
    assert repair.reordered
    assert repair.moves == ((3, 2), (4, 3), (2, 4))


def test_a_student_with_a_problem_needing_manual_action_is_left_alone() -> None:
    facts = [enrolment(), learning(2, 2, "a", with_row=False), learning(4, 3, "b")]
    found = check_student(facts)
    problems = found.problems + classify_unmatched(found.unmatched, {})
    planned, repairs = plan_repairs({ANN: facts}, problems)
    assert repairs == []
    missing = next(p for p in planned if p.kind is Kind.MISSING_ID_ROW)
    assert missing.repair is None
    assert missing.manual == "blocked by this student's version_gap"
