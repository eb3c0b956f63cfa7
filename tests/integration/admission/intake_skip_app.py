"""A Faust app with admission's intake whose consumer skips two records once (fault injection).

Run as its own process by `test_intake_holes.py`. TOPIC holds FIRST records. The app takes them
through a `RecordIntake`, then (partition paused) writes four more, moves the consumer two
records past its position, where a fetch that skipped two records would leave it, and resumes.
It prints the offsets it was handed as one JSON list once it has FIRST + 4 of them, or once
nothing more came for WAIT_S, and exits.

Usage: python -m tests.integration.admission.intake_skip_app BOOTSTRAP TOPIC FIRST
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile

from aiokafka import AIOKafkaProducer
from faust.types import TP

from schemas.settings import Settings
from streams.admission.faust_transport import ProfiledApp, app_options, run_worker

MORE = 4
WAIT_S = 10.0


def main() -> None:
    bootstrap, topic, first = sys.argv[1], sys.argv[2], int(sys.argv[3])
    profile = Settings().broker
    app = ProfiledApp(f"{topic}.intake-skip", broker_profile=profile, broker=f"kafka://{bootstrap}",
                      store="memory://", web_enabled=False, autodiscover=False,
                      datadir=tempfile.mkdtemp(prefix="intake-skip-"), **app_options(profile))
    source = app.topic(topic, partitions=1, key_type=bytes, value_type=bytes,
                       key_serializer="raw", value_serializer="raw")
    intake = app.intake(source, 100)
    handed: list[int] = []
    tp = TP(topic, 0)

    async def skip_two() -> None:
        app.consumer.pause_partitions({tp})
        producer = AIOKafkaProducer(**profile.producer_kwargs(bootstrap))
        await producer.start()
        try:
            for i in range(MORE):
                await producer.send_and_wait(topic, f"more-{i}".encode())
        finally:
            await producer.stop()
        await app.consumer.seek_wait({tp: first + 2})
        # a broker's skip moves the fetch position only: Faust still read up to FIRST - 1 last
        app.consumer._read_offset[tp] = first - 1
        app.consumer.resume_partitions({tp})

    async def drain() -> None:
        while len(handed) < first + MORE:
            try:
                batch = await asyncio.wait_for(intake.take(100), WAIT_S if len(handed) >= first else 60.0)
            except TimeoutError:
                break
            for message in batch:
                handed.append(message.offset)
                app.consumer.ack(message)
            if len(handed) == first:
                await skip_two()
        print(json.dumps(handed), flush=True)
        os._exit(0)

    app.early_tasks.append(drain)
    run_worker(app, "warning")


if __name__ == "__main__":
    main()
