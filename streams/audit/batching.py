"""One batching rule for the audit path: flush at `max_items` or when the oldest item is
`max_age_s` old, whichever comes first. Pure: the caller passes the clock reading."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Batcher(Generic[T]):
    max_items: int
    max_age_s: float
    _items: list[T] = field(default_factory=list)
    _opened_at: float | None = None

    def __post_init__(self) -> None:
        if self.max_items < 1:
            raise ValueError("max_items must be >= 1")
        if self.max_age_s <= 0:
            raise ValueError("max_age_s must be > 0")

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: T, now: float) -> None:
        if not self._items:
            self._opened_at = now
        self._items.append(item)

    def extend(self, items: list[T], now: float) -> None:
        if items and not self._items:
            self._opened_at = now
        self._items.extend(items)

    def full(self) -> bool:
        return len(self._items) >= self.max_items

    def due(self, now: float) -> bool:
        """True when the batch must be flushed now (full, or its oldest item is old enough)."""
        if not self._items:
            return False
        assert self._opened_at is not None
        return self.full() or now - self._opened_at >= self.max_age_s

    def due_after_linger(self, now: float, caught_up: bool, linger_s: float) -> bool:
        """`due`, or, once the reader has caught up (nothing more was waiting), the batch has
        lingered `linger_s`: live traffic becomes visible soon instead of at the age bound."""
        if self.due(now):
            return True
        return caught_up and len(self._items) > 0 and self.age(now) >= linger_s

    def age(self, now: float) -> float:
        """Seconds since the oldest item came in (0 when empty)."""
        if not self._items or self._opened_at is None:
            return 0.0
        return now - self._opened_at

    def seconds_until_due(self, now: float) -> float:
        """How long a poll may wait without overshooting the age bound (max_age_s when empty)."""
        if not self._items or self._opened_at is None:
            return self.max_age_s
        return max(0.0, self._opened_at + self.max_age_s - now)

    def drain(self) -> list[T]:
        items, self._items, self._opened_at = self._items, [], None
        return items

    def clear(self) -> None:
        self.drain()
