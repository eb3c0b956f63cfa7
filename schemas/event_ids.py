"""Derived event ids: the same origin always yields the same id, in every process.

Admission derives every id from the request's log position so a replay is byte-identical; the
lane workers derive the ids of events that admission could also speak about (a task's
`queue_timeout`) from the task id, so the audit tables hold one row per fact, whoever wrote it.
"""

from __future__ import annotations

import uuid

ID_NAMESPACE = uuid.UUID("6f1c1f9e-2b1e-4a59-9d8f-6a7a0c0de0a1")


def derived_event_id(origin: str, kind: str) -> uuid.UUID:
    return uuid.uuid5(ID_NAMESPACE, f"{origin}|{kind}")


def queue_timeout_event_id(task_id: str) -> uuid.UUID:
    """The one id of the `queue_timeout` of a task, whichever service reports it."""
    return derived_event_id(f"expired:{task_id}", "queue_timeout")
