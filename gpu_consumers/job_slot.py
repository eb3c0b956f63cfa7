"""The next job, handed from the event loop to the job thread while the current pipeline runs.

The loop prepares the next item (fetched, decoded, checked against the ledger) and offers it; the
job thread takes it the moment the current pipeline has ended and starts it without a round
trip through the event loop. Whichever side comes first gets the item: the thread takes it, or
the loop withdraws it (the pipeline ended before the offer, a stop) and starts it the usual way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class JobSlot(Generic[T]):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._item: T | None = None

    def offer(self, item: T) -> None:
        with self._lock:
            if self._item is not None:
                raise RuntimeError("the job slot holds an item already")
            self._item = item

    def take(self, accept: Callable[[T], bool] | None = None) -> T | None:
        """The item, if there is one and `accept` agrees; otherwise it stays for `withdraw`."""
        with self._lock:
            item = self._item
            if item is None or (accept is not None and not accept(item)):
                return None
            self._item = None
            return item

    def withdraw(self) -> T | None:
        return self.take()
