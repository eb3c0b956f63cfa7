"""The floors: the most one partition's records can be taken here, doing nothing with them.

Run by `bench/admission_throughput.py` as its own process, as the admission agent runs (`make bench`
skips `_` scripts), with the broker profile admission uses and no work per record, in one of two
ways:
- `agent`: a Faust agent batching with `take_events` on Faust's public API, with admission's Faust
  app options (Faust's own consumer and its per-record path);
- `intake`: admission's path, `RequestIntake` (a plain aiokafka consumer group), a batch marked
  decided and committed as admission does.
Prints one line: `<records> <seconds> <cpu_seconds>`, timed from the first batch.

Usage: .venv/bin/python bench/_faust_floor.py BOOTSTRAP TOPIC RECORDS {agent,intake}
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import faust
from aiokafka import TopicPartition

from schemas.settings import Settings
from streams.admission.agent import BATCH_MAX, COMMIT_INTERVAL_S, FETCH_BYTES
from streams.admission.faust_transport import app_options, run_worker
from streams.admission.intake import RequestIntake

#: How long a `take_events` batch waits to fill.
WITHIN_S = 0.005


class Counter:
    def __init__(self, records: int) -> None:
        self.records = records
        self.seen = 0
        self.started: tuple[float, float] | None = None

    def counted(self, n: int) -> None:
        if self.started is None:
            self.started = (time.perf_counter(), time.process_time())
        self.seen += n
        if self.seen >= self.records:
            wall0, cpu0 = self.started
            print(self.seen, time.perf_counter() - wall0, time.process_time() - cpu0, flush=True)
            os._exit(0)


def agent(bootstrap: str, topic: str, counter: Counter) -> None:
    profile = Settings().broker
    app = faust.App(f"{topic}.faust-floor", broker=f"kafka://{bootstrap}", store="memory://",
                    web_enabled=False, autodiscover=False,
                    datadir=str(Path(os.environ.get("TMPDIR", "/tmp")) / f"{topic}.faust-floor"),
                    **app_options(profile))
    source = app.topic(topic, partitions=1, key_type=bytes, value_type=bytes,
                       key_serializer="raw", value_serializer="raw")

    @app.agent(source, concurrency=1)
    async def count(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        batches = cast(faust.Stream[bytes], stream).take_events(BATCH_MAX, within=WITHIN_S)
        async for events in batches:
            counter.counted(len(events))
            yield None

    run_worker(app, "warning")


async def intake(bootstrap: str, topic: str, counter: Counter) -> None:
    profile = Settings().broker

    async def assigned(_: set[TopicPartition]) -> None:
        return None

    reader = RequestIntake(profile.consumer_kwargs(bootstrap, f"{topic}.intake-floor", max_poll_records=BATCH_MAX,
                                                   max_partition_fetch_bytes=FETCH_BYTES),
                           topic, profile, BATCH_MAX, assigned)
    await reader.start()
    committed = time.monotonic()
    while True:
        _, batch = await reader.take()
        reader.decided(batch)
        if time.monotonic() - committed >= COMMIT_INTERVAL_S:
            committed = time.monotonic()
            await reader.commit()
        counter.counted(len(batch))


def main() -> None:
    bootstrap, topic, records, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    counter = Counter(records)
    if path == "agent":
        agent(bootstrap, topic, counter)
    else:
        asyncio.run(intake(bootstrap, topic, counter))


if __name__ == "__main__":
    main()
