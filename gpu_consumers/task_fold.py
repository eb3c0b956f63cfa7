"""What a worker knows about each task from `events.task`: its status, its starts, whether it ended.

Pure state, folded defensively: an event that may not follow (`schemas.tasks.may_follow`) the
task's current status (a second `done` from a zombie worker, a `processing` after `failed`) is
counted and ignored, never allowed to move a finished task back to work. A task first seen
mid-life (the ledger reads a bounded window, see `task_ledger`) starts from whatever status that
first event has.

The worker's own events are folded twice: at once (`record_own`, so it never waits on itself)
and again, in log order, when the follower reads them back (`fold`). Until its echo arrives an
own event counts as an overlay; the echo then goes through the same checks as any other event.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from uuid import UUID

from schemas.enums import TaskStatus
from schemas.tasks import TERMINAL, TaskEvent, may_follow


@dataclass(frozen=True)
class Refused:
    """An event the fold ignored, for the caller to count and log."""

    task_id: str
    current: TaskStatus
    new: TaskStatus


@dataclass
class TaskFold:
    status: dict[str, TaskStatus] = field(default_factory=dict)
    _starts: Counter[str] = field(default_factory=Counter)
    _own_pending: dict[UUID, TaskEvent] = field(default_factory=dict)
    _own_starts: Counter[str] = field(default_factory=Counter)
    _own_ended: Counter[str] = field(default_factory=Counter)
    invalid: int = 0

    def fold(self, event: TaskEvent) -> Refused | None:
        """Apply one event read from the log (in log order)."""
        own = self._own_pending.pop(event.event_id, None)
        if own is not None:
            self._drop_overlay(own)
        task_id, new = event.task_id, event.task.status
        current = self.status.get(task_id)
        # A repeat is refused too: the same status twice is a second worker's event (a zombie's
        # `done`), and a second `processing` must not count as a start.
        if current is not None and not may_follow(current, new):
            self.invalid += 1
            return Refused(task_id, current, new)
        self.status[task_id] = new
        if new is TaskStatus.processing:
            self._starts[task_id] += 1
        return None

    def record_own(self, event: TaskEvent) -> None:
        """An event this worker just published: effective now, checked again when read back."""
        self._own_pending[event.event_id] = event
        if event.task.status is TaskStatus.processing:
            self._own_starts[event.task_id] += 1
        elif event.task.status in TERMINAL:
            self._own_ended[event.task_id] += 1

    def ended(self, task_id: str) -> bool:
        return self.status.get(task_id) in TERMINAL or self._own_ended[task_id] > 0

    def starts(self, task_id: str) -> int:
        return self._starts[task_id] + self._own_starts[task_id]

    def _drop_overlay(self, event: TaskEvent) -> None:
        counter = self._own_starts if event.task.status is TaskStatus.processing else self._own_ended
        if counter[event.task_id] > 0:
            counter[event.task_id] -= 1
            if counter[event.task_id] == 0:
                del counter[event.task_id]
