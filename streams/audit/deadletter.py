"""Rows for records the sink cannot store: kept with their source coordinates, never dropped."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streams.audit.rows import Source

#: Fixed namespace: the same record (topic, partition, offset) always gets the same event_id,
#: so a redelivered poison record collapses like any other duplicate.
REJECT_NAMESPACE = uuid.UUID("6f1d2c3e-8a4b-5c6d-9e0f-a1b2c3d4e5f6")
MAX_STORED_PAYLOAD_CHARS = 16_384
MAX_STORED_ERROR_CHARS = 4_000


def reject_id(topic: str, partition: int, offset: int) -> uuid.UUID:
    return uuid.uuid5(REJECT_NAMESPACE, f"{topic}/{partition}/{offset}")


def reject_row(
    source: Source, payload: bytes | None, kind: str, error: str, received_at: datetime
) -> list[Any]:
    raw = payload or b""
    text = raw.decode("utf-8", errors="replace")[:MAX_STORED_PAYLOAD_CHARS]
    return [
        reject_id(source.topic, source.partition, source.offset), received_at, source.topic,
        source.partition, source.offset, kind, error[:MAX_STORED_ERROR_CHARS], text, len(raw),
    ]
