"""Admission's request intake whose consumer skips two records once (fault injection).

Run as its own process by `test_intake_holes.py`. TOPIC holds FIRST records. The intake takes
them, then (partition paused) four more are written and the consumer is moved two records past its
position with aiokafka's public `seek`, where a fetch that skipped two records would leave it, and
resumed. It prints the offsets it was handed as one JSON list once it has FIRST + 4 of them, or
once nothing more came for WAIT_S, and exits.

Usage: python -m tests.integration.admission.intake_skip_app BOOTSTRAP TOPIC FIRST
"""

from __future__ import annotations

import asyncio
import json
import sys

from aiokafka import TopicPartition

from schemas.broker_profile import BROKER_PROFILES
from streams.admission.intake import RequestIntake
from tests.broker_io import publish

MORE = 4
WAIT_S = 10.0


async def run(bootstrap: str, topic: str, first: int) -> list[int]:
    profile = BROKER_PROFILES["tansu"]
    assigned = asyncio.Event()

    async def on_assigned(tps: set[TopicPartition]) -> None:
        if tps:
            assigned.set()

    intake = RequestIntake(profile.consumer_kwargs(bootstrap, f"{topic}.intake-skip"), topic, profile,
                           100, on_assigned)
    await intake.start()
    consumer = intake.started().consumer
    tp = TopicPartition(topic, 0)
    handed: list[int] = []
    try:
        while len(handed) < first + MORE:
            try:
                _, batch = await asyncio.wait_for(intake.take(), WAIT_S if len(handed) >= first else 60.0)
            except TimeoutError:
                break
            handed.extend(record.offset for record in batch)
            intake.decided(batch)
            if len(handed) == first:
                consumer.pause(tp)
                await publish(bootstrap, [(topic, None, f"more-{i}".encode()) for i in range(MORE)],
                              one_at_a_time=True)
                consumer.seek(tp, first + 2)
                consumer.resume(tp)
        await intake.commit()
    finally:
        await intake.stop()
    return handed


def main() -> None:
    bootstrap, topic, first = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(json.dumps(asyncio.run(run(bootstrap, topic, first))), flush=True)


if __name__ == "__main__":
    main()
