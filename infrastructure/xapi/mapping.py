"""The mapping from statements to learning events, as data (docs/xapi.md, "The mapping file").

A ``Mapping`` is an ordered list of rules; the first rule whose ``when`` holds decides: it
either ignores the statement (with its reason) or names a component and, for each ``data``
field, an extractor. The default mapping is ``default_mapping.yaml`` beside this module, read
through the same loader as a file named in ``MASTERY_XAPI_MAPPING``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from infrastructure.xapi.extractors import BUILTINS, RESULT_FACTS, has_result_fact
from infrastructure.xapi.statement import Statement

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
PathPart = Annotated[str, Field(min_length=1)] | Annotated[int, Field(ge=0)]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Extractor(_Closed):
    """One of: ``const`` (a fixed value), ``builtin`` (a named reading of the statement, see
    ``extractors.BUILTINS``), ``path`` (keys and list indexes into the statement's JSON, e.g.
    ``[result, extensions, "http://..."]``; ``default`` when absent)."""

    const: Any = None
    builtin: str | None = None
    path: list[PathPart] | None = Field(None, min_length=1, max_length=16)
    default: Any = None

    @model_validator(mode="after")
    def check_one_kind(self) -> Extractor:
        kinds = [k for k in ("const", "builtin", "path") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("give exactly one of const, builtin, path")
        if self.builtin is not None and self.builtin not in BUILTINS:
            raise ValueError(
                f"unknown builtin {self.builtin!r}; one of {', '.join(sorted(BUILTINS))}"
            )
        return self

    def extract(self, statement: Statement, raw: dict[str, Any]) -> Any:
        """The value for ``statement``; ``raw`` is the statement as it came (paths read it)."""
        if self.const is not None:
            return self.const
        if self.builtin is not None:
            return BUILTINS[self.builtin](statement)
        value: Any = raw
        for part in self.path or ():
            if not _has(value, part):
                return self.default
            value = value[part]
        return value


def _has(value: Any, part: str | int) -> bool:
    if isinstance(part, int):
        return isinstance(value, list) and part < len(value)
    return isinstance(value, dict) and part in value


class When(_Closed):
    """Every condition given must hold; a list holds when any of its items does."""

    verbs: frozenset[str] | None = None
    activity_types: frozenset[str] | None = None
    object_types: frozenset[str] | None = None
    result: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def check_result_facts(self) -> When:
        unknown = sorted(set(self.result or ()) - set(RESULT_FACTS))
        if unknown:
            raise ValueError(
                f"unknown result facts {', '.join(unknown)}; one of {', '.join(RESULT_FACTS)}"
            )
        return self

    def holds(self, statement: Statement) -> bool:
        if self.verbs is not None and statement.verb["id"] not in self.verbs:
            return False
        if self.activity_types is not None and statement.activity_type not in self.activity_types:
            return False
        if self.object_types is not None and statement.object_type not in self.object_types:
            return False
        if self.result is not None:
            return any(has_result_fact(statement, fact) for fact in self.result)
        return True


class Rule(_Closed):
    name: Name
    when: When = When()
    ignore: str | None = Field(None, min_length=1, max_length=200)
    component: Literal["completion", "quiz", "quality", "consistency"] | None = None
    data: dict[str, Extractor] = {}

    @model_validator(mode="after")
    def check_ignore_or_component(self) -> Rule:
        if (self.ignore is None) == (self.component is None):
            raise ValueError("give exactly one of ignore (a reason) and component")
        if self.ignore is not None and self.data:
            raise ValueError("a rule that ignores has no data")
        return self


class TopicRule(_Closed):
    segments: int = Field(2, ge=1, le=8)
    max_length: int = Field(64, ge=16, le=128)


class ClassRule(_Closed):
    extension: str = "https://mastery-engine.invalid/xapi/extensions/class-id"
    activity_types: list[str] = ["http://adlnet.gov/expapi/activities/course"]
    context_activities: list[Literal["grouping", "parent", "category", "other"]] = [
        "grouping",
        "parent",
    ]


class Mapping(_Closed):
    version: Literal[1] = 1
    topic: TopicRule = TopicRule()
    class_: ClassRule = Field(ClassRule(), alias="class")
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def check_unique_names(self) -> Mapping:
        names = [rule.name for rule in self.rules]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"rule names must be unique; repeated: {', '.join(repeated)}")
        return self

    def rule_for(self, statement: Statement) -> Rule | None:
        for rule in self.rules:
            if rule.when.holds(statement):
                return rule
        return None
