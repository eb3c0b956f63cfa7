"""Derived event ids: the same origin always yields the same id, in every process.

Admission derives every id from the request's log position so a replay gives the same ids; the
lane workers derive the ids of events that admission could also speak about (a task's
`queue_timeout`) from the task id, so the audit tables hold one row per fact, whoever wrote it.
"""

from __future__ import annotations

import hashlib
import uuid

ID_NAMESPACE = uuid.UUID("6f1c1f9e-2b1e-4a59-9d8f-6a7a0c0de0a1")

_NAMESPACE_BYTES = ID_NAMESPACE.bytes
#: RFC 4122 version 5 and variant bits, as `uuid.UUID(bytes=..., version=5)` sets them.
_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_SET = (5 << 76) | (0x8000 << 48)


def derived_event_id(origin: str, kind: str) -> uuid.UUID:
    """`uuid.uuid5(ID_NAMESPACE, f"{origin}|{kind}")`, without `UUID.__init__`'s argument parsing.

    Admission derives two or three ids per request; the value is the same as `uuid5`'s
    (tests/unit/test_event_ids.py checks it), built the way `UUID.__init__` itself stores it.
    """
    digest = hashlib.sha1(_NAMESPACE_BYTES + f"{origin}|{kind}".encode()).digest()
    derived = object.__new__(uuid.UUID)
    object.__setattr__(derived, "int", int.from_bytes(digest[:16]) & _CLEAR | _SET)
    object.__setattr__(derived, "is_safe", uuid.SafeUUID.unknown)
    return derived


def queue_timeout_event_id(task_id: str) -> uuid.UUID:
    """The one id of the `queue_timeout` of a task, whichever service reports it."""
    return derived_event_id(f"expired:{task_id}", "queue_timeout")
