"""A topic's part of the ledger: its latest completion, quiz sums, latest quality facts and
counts per component, with its mastery memoised for the consistency last asked for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from domain.mastery.knowledge_tracing import KnowledgeTrack
from domain.mastery.ratio import ZERO, Ratio, capped_ratio, mean, ratio
from domain.mastery.samples import CompletionSample, QualitySample
from domain.mastery.scoring import EvidencePart
from domain.mastery.values import ComponentCounts, TopicMastery


@dataclass(slots=True)
class TopicLedger:
    completion: CompletionSample | None = None
    quiz_weighted_tenths: int = 0  # Σ correct * confidence in tenths
    quiz_total: int = 0  # Σ total questions
    quality: list[QualitySample] = field(default_factory=list)  # ascending, the latest 10
    # How many facts of the topic, per component (activity markers included).
    completion_count: int = 0
    quiz_count: int = 0
    quality_count: int = 0
    consistency_count: int = 0
    # Derived, never part of the state: the topic's mastery at the last consistency asked for.
    memo: tuple[Ratio, TopicMastery] | None = field(default=None, compare=False)
    evidence_memo: EvidencePart | None = field(default=None, compare=False)
    quality_memo: Ratio | None = field(default=None, compare=False)
    # The topic's quiz facts folded in order, under a formula with a tracked quiz rule (bkt-v1).
    quiz_track: KnowledgeTrack | None = field(default=None, compare=False)

    def copy(self) -> TopicLedger:
        """An independent copy (samples and memos are immutable values, shared; the quiz track
        is copied)."""
        return TopicLedger(
            self.completion,
            self.quiz_weighted_tenths,
            self.quiz_total,
            list(self.quality),
            self.completion_count,
            self.quiz_count,
            self.quality_count,
            self.consistency_count,
            self.memo,
            self.evidence_memo,
            self.quality_memo,
            None if self.quiz_track is None else self.quiz_track.copy(),
        )

    def quality_mean(self) -> Ratio:
        if self.quality_memo is None:
            self.quality_memo = mean([s.value for s in self.quality])
        return self.quality_memo

    def counts(self) -> ComponentCounts:
        return ComponentCounts(
            self.completion_count, self.quiz_count, self.quality_count, self.consistency_count
        )

    def mastery(self, consistency: Ratio) -> TopicMastery:
        memo = self.memo
        if memo is None or memo[0] != consistency:
            if self.evidence_memo is None:
                self.evidence_memo = self._evidence_part()
            # Every fact added resets the memo, so a memo left in place has the current counts.
            counts = self.counts() if memo is None else memo[1].evidence
            memo = self.memo = (consistency, self.evidence_memo.topic_mastery(consistency, counts))
        return memo[1]

    def _evidence_part(self) -> EvidencePart:
        completion = (
            capped_ratio(self.completion.weighted_tenths, 10 * self.completion.total)
            if self.completion
            else ZERO
        )
        quiz = (
            ratio(self.quiz_weighted_tenths, 10 * self.quiz_total)
            if self.quiz_track is None
            else self.quiz_track.ratio()
        )
        return EvidencePart.of(completion, quiz, self.quality_mean())

    def to_state(self) -> dict[str, Any]:
        return {
            "completion": self.completion.to_state() if self.completion else None,
            "quiz": [self.quiz_weighted_tenths, self.quiz_total],
            "quality": [s.to_state() for s in self.quality],
            "counts": self.counts().to_document(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TopicLedger:
        completion = state["completion"]
        weighted, total = state["quiz"]
        counts = state["counts"]
        return cls(
            completion=CompletionSample.from_state(completion) if completion else None,
            quiz_weighted_tenths=weighted,
            quiz_total=total,
            quality=sorted(
                (QualitySample.from_state(s) for s in state["quality"]), key=lambda s: s.key
            ),
            completion_count=int(counts["completion"]),
            quiz_count=int(counts["quiz"]),
            quality_count=int(counts["quality"]),
            consistency_count=int(counts["consistency"]),
        )
