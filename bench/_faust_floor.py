"""The Faust floors: the most a Faust app can take from one partition here, doing nothing.

Run by `bench/admission_throughput.py` as its own process, as the admission agent runs (`make bench`
skips `_` scripts), with the same Faust app options and broker profile as admission and no work
per record, in one of two ways:
- `agent`: a Faust agent with `take_events` batching (Faust's own path for a record);
- `intake`: admission's path, the records handed to a `RecordIntake` a fetch at a time and
  acked per batch.
Prints one line: `<records> <seconds> <cpu_seconds>`, timed from the first batch.

Usage: .venv/bin/python bench/_faust_floor.py BOOTSTRAP TOPIC RECORDS {agent,intake}
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import faust

from schemas.settings import Settings
from streams.admission.agent import BATCH_MAX, INTAKE_LIMIT
from streams.admission.faust_transport import ProfiledApp, app_options, run_worker

#: How long a `take_events` batch waits to fill.
WITHIN_S = 0.005


def main() -> None:
    bootstrap, topic, records, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    profile = Settings().broker
    app = ProfiledApp(f"{topic}.faust-floor", broker_profile=profile, broker=f"kafka://{bootstrap}",
                      store="memory://", web_enabled=False, autodiscover=False,
                      datadir=str(Path(os.environ.get("TMPDIR", "/tmp")) / f"{topic}.faust-floor"),
                      **app_options(profile))
    source = app.topic(topic, partitions=1, key_type=bytes, value_type=bytes,
                       key_serializer="raw", value_serializer="raw")
    seen = 0
    started: list[tuple[float, float]] = []

    def counted(n: int) -> None:
        nonlocal seen
        if not started:
            started.append((time.perf_counter(), time.process_time()))
        seen += n
        if seen >= records:
            wall0, cpu0 = started[0]
            print(seen, time.perf_counter() - wall0, time.process_time() - cpu0, flush=True)
            os._exit(0)

    if path == "agent":
        @app.agent(source, concurrency=1)
        async def count(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
            batches = cast(faust.Stream[bytes], stream).take_events(BATCH_MAX, within=WITHIN_S)
            async for events in batches:
                counted(len(events))
                yield None
    else:
        intake = app.intake(source, INTAKE_LIMIT)

        async def drain() -> None:
            while True:
                batch = await intake.take(BATCH_MAX)
                for message in batch:
                    app.consumer.ack(message)
                counted(len(batch))

        app.early_tasks.append(drain)

    run_worker(app, "warning")


if __name__ == "__main__":
    main()
