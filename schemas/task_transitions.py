"""The status rules of a task on `events.task`: which moves are allowed and what is a repeat.

Plain enums and functions, no wire model: the admission core reads them without loading the
pydantic records, and `schemas.tasks` re-exports them beside the records they govern. Not compiled:
`schemas` is imported by processes (the GPU workers' kit) that must not load `streams`, where the
compiled modules' shared library lives.
"""

from schemas.enums import TaskStatus

#: Allowed status moves; `pending -> failed` covers rejections and queue timeouts.
TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.pending: frozenset({TaskStatus.processing, TaskStatus.failed}),
    TaskStatus.processing: frozenset({TaskStatus.done, TaskStatus.failed, TaskStatus.pending}),
    TaskStatus.done: frozenset(),
    TaskStatus.failed: frozenset(),
}
TERMINAL = frozenset({TaskStatus.done, TaskStatus.failed})


def may_follow(current: TaskStatus, new: TaskStatus) -> bool:
    """Whether a task in `current` may move to `new` (processing->pending is a crash redelivery).
    The one rule of every fold of `events.task`: plain enums, so pure cores use it as it is."""
    return new in TRANSITIONS[current]


def repeats(current: TaskStatus, new: TaskStatus) -> bool:
    """`new` is the status the task already has: a redelivered or re-read event, not a move.
    Each fold says what a repeat means to it (admission: nothing; a worker's ledger: a second
    worker's event, counted)."""
    return new is current


def can_transition(current: TaskStatus | None, new: TaskStatus) -> bool:
    """`None` means the task is new."""
    if current is None:
        return new in (TaskStatus.pending, TaskStatus.failed)
    return may_follow(current, new)
