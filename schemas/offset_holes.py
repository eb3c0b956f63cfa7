"""Holes in a fetched log: a record past the next offset expected means the fetch skipped some.

framegate's logs are neither compacted nor transactional, so their offsets have no holes. tansu's
tailing fetch can still hand out a record of one producer while a record of a lower offset,
written at the same moment by another producer, is not yet readable: a consumer that takes it has
moved past the lower one for good (a request never decided, an event never audited). A consumer
that meets a hole seeks back to its first offset and reads it again; after `tries` reads of the
same hole it takes the records after it as they are, so a hole that is real never stalls it.

Used by admission's intake and follower, the audit sink and the lane workers' task ledger (pure:
no Kafka here, so both halves share it, as they share `broker_profile`).
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

log = logging.getLogger(__name__)

#: Reads of one hole before the records after it are taken as they are.
HOLE_REREADS = 3


class Offset(Protocol):
    @property
    def offset(self) -> int: ...


R = TypeVar("R", bound=Offset)


@dataclass
class HoleGuard:
    tries: int = HOLE_REREADS
    #: partition -> (first offset of the hole being read again, reads so far)
    rereads: dict[Hashable, tuple[int, int]] = field(default_factory=dict)

    def check(self, tp: Hashable, expected: int | None, offset: int) -> int | None:
        """The offset to seek back to when `offset` lies past `expected` (the next offset not yet
        taken; None when not known yet), or None: take the record."""
        if expected is None or offset <= expected:
            if self.rereads:  # the common case touches nothing
                self.rereads.pop(tp, None)
            return None
        start, tries = self.rereads.get(tp, (expected, 0))
        if start != expected:
            tries = 0
        if tries >= self.tries:
            log.warning("%s: offsets %d..%d were never delivered after %d reads; going on from %d",
                        tp, expected, offset - 1, tries, offset)
            self.rereads.pop(tp, None)
            return None
        log.warning("%s: a fetch skipped offsets %d..%d; reading them again", tp, expected, offset - 1)
        self.rereads[tp] = (expected, tries + 1)
        return expected

    def take(self, tp: Hashable, expected: int | None, records: Sequence[R]) -> tuple[Sequence[R], int | None]:
        """The records of one fetch of `tp` up to the first hole, and the offset to seek back to
        (None: no hole, every record taken)."""
        for i, record in enumerate(records):
            hole = self.check(tp, expected, record.offset)
            if hole is not None:
                return records[:i], hole
            expected = record.offset + 1 if expected is None else max(expected, record.offset + 1)
        return records, None

    def forget(self) -> None:
        """Positions are about to be reset (a revocation): no hole is being read any more."""
        self.rereads.clear()
