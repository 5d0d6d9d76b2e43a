"""``mastery generations evaluate``: how well each formula predicts the store's own quiz answers
(SPEC §4b), as AUC and RMSE, overall and per topic with enough answers.

The command takes formulas (``--formula F``, repeatable; all registered ones by default).
Generation names resolve to their formulas through ``formulas_for`` below, which the
generations registry completes; the evaluation itself takes formula objects
(``infrastructure.generations.evaluation.evaluate_formulas``).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from api.cli.common import EXIT_USAGE, console, container, errors, fail
from domain.identifiers import check_tenant
from domain.mastery.formulas import FORMULAS, Formula, UnknownFormulaError, formula_named
from domain.mastery.predictive_validity import MIN_TOPIC_ANSWERS
from infrastructure.generations.evaluation import evaluate_formulas

TABLE_TOPICS = 30


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


def evaluate(
    formula: Annotated[
        list[str] | None,
        typer.Option(
            "--formula",
            help="A formula to evaluate (repeatable); all registered formulas by default.",
        ),
    ] = None,
    tenant: Annotated[
        str | None, typer.Option(help="Only this tenant's students (default: every tenant).")
    ] = None,
    min_topic_answers: Annotated[
        int,
        typer.Option(min=1, help="Score a topic on its own from this many answers on."),
    ] = MIN_TOPIC_ANSWERS,
    output: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.TABLE,
) -> None:
    """Predictive validity on the store's own history: for every quiz answer in time order,
    each formula's predicted probability of a correct answer from the student's earlier
    events, scored by AUC (higher is better, 0.5 is chance) and RMSE (lower is better)."""
    formulas = formulas_for(formula or [])
    if tenant is not None:
        try:
            check_tenant(tenant)
        except ValueError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
    with container() as built:
        database_url = built.settings.require_database_url()
        columns = (TextColumn("[bold]students"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=errors, transient=True) as progress:
            task = progress.add_task("students", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            board = evaluate_formulas(
                built.application, database_url, formulas, tenant_id=tenant, progress=advance
            )
    document = board.to_document(min_topic_answers)
    if output is Format.JSON:
        console.print_json(json.dumps(document))
    else:
        _print_tables(document)


def formulas_for(names: list[str]) -> list[Formula]:
    """The formulas named (each once, in the order given), every registered one for none."""
    if not names:
        return list(FORMULAS.values())
    try:
        return [formula_named(name) for name in dict.fromkeys(names)]
    except UnknownFormulaError as exc:
        raise fail(str(exc), EXIT_USAGE) from None


def _print_tables(document: dict[str, Any]) -> None:
    names: list[str] = document["formulas"]
    overall = Table(
        title=f"predictive validity: {document['students']} students, "
        f"{document['quiz_events']} quiz events"
    )
    for column in ("formula", "answers", "correct", "AUC", "RMSE"):
        overall.add_column(column, justify="left" if column == "formula" else "right")
    for name in names:
        score = document["overall"][name]
        overall.add_row(
            name,
            str(score["answers"]),
            str(score["correct"]),
            _auc(score),
            _number(score["rmse"]),
        )
    console.print(overall)
    topics: dict[str, dict[str, Any]] = document["topics"]
    if topics:
        _print_topics(names, topics)
    skipped = document["topics_too_small"]
    if skipped:
        console.print(
            f"{skipped} topic(s) with fewer than {document['min_topic_answers']} answers "
            "(or only one outcome) are counted overall only."
        )


def _print_topics(names: list[str], topics: dict[str, dict[str, Any]]) -> None:
    table = Table(title="per topic (AUC / RMSE)")
    table.add_column("topic")
    table.add_column("answers", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    largest = sorted(topics, key=lambda t: -topics[t][names[0]]["answers"])[:TABLE_TOPICS]
    for topic in largest:
        scores = topics[topic]
        table.add_row(
            topic,
            str(scores[names[0]]["answers"]),
            *(f"{_auc(scores[n])} / {_number(scores[n]['rmse'])}" for n in names),
        )
    console.print(table)
    if len(topics) > TABLE_TOPICS:
        console.print(
            f"(the {TABLE_TOPICS} largest of {len(topics)} topics; --format json for all)"
        )


def _auc(score: dict[str, Any]) -> str:
    text = _number(score["auc"])
    return text if score["auc_exact"] else f"~{text}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
