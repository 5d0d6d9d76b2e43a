"""Students' histories kept between incremental projection batches.

A cached history continues exactly one tracked position: the one the last batch ended at. If
anyone else moves the position (a rebuild, another projector), every cached history may be
stale and is dropped; after a failure nothing cached is trusted at all. Least recently used
histories are dropped first once the cache is full.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from uuid import UUID

from projections.mastery_projection import StudentHistory


class HistoryCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self.continues: int | None = None  # the position the cached histories continue
        self._histories: OrderedDict[UUID, StudentHistory] = OrderedDict()

    def continues_from(self, position: int) -> bool:
        return position == self.continues

    def cached(self, originators: Iterable[UUID]) -> dict[UUID, StudentHistory]:
        return {o: self._histories[o] for o in originators if o in self._histories}

    def remember(self, histories: dict[UUID, StudentHistory], up_to: int) -> None:
        """Keep ``histories``, which now continue position ``up_to``."""
        for originator, history in histories.items():
            self._histories[originator] = history
            self._histories.move_to_end(originator)
        while len(self._histories) > self.size:
            self._histories.popitem(last=False)
        self.continues = up_to

    def forget(self, position: int) -> None:
        """Drop every history; the next batch starts from ``position`` with histories re-read."""
        self._histories.clear()
        self.continues = position

    def distrust(self) -> None:
        """Drop every history and claim no position (after a failure)."""
        self._histories.clear()
        self.continues = None

    def __len__(self) -> int:
        return len(self._histories)
