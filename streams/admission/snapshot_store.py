"""Snapshots on `<prefix>admission.snapshots`: chunked records, then a head that names them.

Layout: a snapshot's body is split into chunks below the broker's message limit, each keyed
`chunk/<id>/<n>`; a `head` record written after them carries the id, the chunk count, the offset
of the first chunk and the body's sha256. A reader takes the newest head and its chunks; a missing
chunk or a wrong checksum makes the snapshot unusable (the agent then folds the logs from the
start). After a head lands, the previous snapshot's chunks get tombstones, so a compacted topic
keeps one snapshot.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.admission.errors import SnapshotUnusable
from streams.admission.snapshot import SNAPSHOT_VERSION, checksum

log = logging.getLogger(__name__)

HEAD_KEY = b"head"
#: Below the 1 MiB default message limit of Kafka and tansu, with room for the record overhead.
CHUNK_BYTES = 512 * 1024
#: Records read back from the end per step while looking for the newest head.
SCAN_STEP = 256


@dataclass(frozen=True)
class SnapshotHead:
    snapshot_id: str
    version: int
    chunks: int
    first_offset: int
    sha256: str
    size: int

    def to_wire(self) -> bytes:
        return json.dumps(vars(self)).encode()

    @classmethod
    def from_wire(cls, value: bytes) -> SnapshotHead:
        try:
            doc = json.loads(value)
            return cls(snapshot_id=str(doc["snapshot_id"]), version=int(doc["version"]),
                       chunks=int(doc["chunks"]), first_offset=int(doc["first_offset"]),
                       sha256=str(doc["sha256"]), size=int(doc["size"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise SnapshotUnusable(f"snapshot head does not parse: {exc!r}") from exc


def chunk_key(snapshot_id: str, index: int) -> bytes:
    return f"chunk/{snapshot_id}/{index}".encode()


async def write_snapshot(producer: AIOKafkaProducer, topic: str, body: bytes,
                         previous: SnapshotHead | None) -> SnapshotHead:
    """Chunks, then the head (acknowledged in that order), then tombstones for `previous`."""
    snapshot_id = checksum(body)[:16]
    pieces = [body[i:i + CHUNK_BYTES] for i in range(0, len(body), CHUNK_BYTES)] or [b""]
    first = await producer.send_and_wait(topic, pieces[0], key=chunk_key(snapshot_id, 0), partition=0)
    sent = [producer.send(topic, piece, key=chunk_key(snapshot_id, i), partition=0)
            for i, piece in enumerate(pieces[1:], start=1)]
    for future in sent:
        await (await future)
    head = SnapshotHead(snapshot_id=snapshot_id, version=SNAPSHOT_VERSION, chunks=len(pieces),
                        first_offset=first.offset, sha256=checksum(body), size=len(body))
    await producer.send_and_wait(topic, head.to_wire(), key=HEAD_KEY, partition=0)
    if previous is not None and previous.snapshot_id != snapshot_id:
        for i in range(previous.chunks):
            await producer.send(topic, None, key=chunk_key(previous.snapshot_id, i), partition=0)
        await producer.flush()
    return head


async def newest_head(consumer: AIOKafkaConsumer, tp: TopicPartition) -> SnapshotHead | None:
    """The last `head` record of the topic, scanning back from its end."""
    start, end = (await consumer.beginning_offsets([tp]))[tp], (await consumer.end_offsets([tp]))[tp]
    upper = end
    while upper > start:
        lower = max(start, upper - SCAN_STEP)
        found: SnapshotHead | None = None
        for record in await _read_range(consumer, tp, lower, upper):
            if record.key == HEAD_KEY and record.value is not None:
                try:
                    found = SnapshotHead.from_wire(record.value)
                except SnapshotUnusable as exc:
                    log.warning("ignoring unreadable snapshot head at offset %d: %s", record.offset, exc)
        if found is not None:
            return found
        upper = lower
    return None


async def read_body(consumer: AIOKafkaConsumer, tp: TopicPartition, head: SnapshotHead) -> bytes:
    """The snapshot body named by `head`; `SnapshotUnusable` if it is incomplete or corrupt."""
    if head.version != SNAPSHOT_VERSION:
        raise SnapshotUnusable(f"snapshot version {head.version} is not {SNAPSHOT_VERSION}")
    pieces: dict[int, bytes] = {}
    prefix = f"chunk/{head.snapshot_id}/".encode()
    end = (await consumer.end_offsets([tp]))[tp]
    position = head.first_offset
    while len(pieces) < head.chunks and position < end:
        upper = min(end, position + max(head.chunks * 2, SCAN_STEP))
        for record in await _read_range(consumer, tp, position, upper):
            if record.key is not None and record.key.startswith(prefix) and record.value is not None:
                pieces[int(record.key[len(prefix):])] = record.value
        position = upper
    if sorted(pieces) != list(range(head.chunks)):
        raise SnapshotUnusable(f"snapshot {head.snapshot_id}: {len(pieces)} of {head.chunks} chunks found")
    body = b"".join(pieces[i] for i in range(head.chunks))
    if checksum(body) != head.sha256 or len(body) != head.size:
        raise SnapshotUnusable(f"snapshot {head.snapshot_id}: checksum mismatch")
    return body


async def _read_range(consumer: AIOKafkaConsumer, tp: TopicPartition, lower: int, upper: int) -> list[Any]:
    """Records with lower <= offset < upper (compaction may have removed some)."""
    consumer.seek(tp, lower)
    found: list[Any] = []
    while True:
        batch = await consumer.getmany(tp, timeout_ms=500, max_records=2000)
        records = batch.get(tp, [])
        found.extend(r for r in records if lower <= r.offset < upper)
        position = await consumer.position(tp)
        if position >= upper or not records:
            return found
