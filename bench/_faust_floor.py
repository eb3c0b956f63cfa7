"""A Faust agent that only counts: the most any Faust agent can take from one partition here.

Run by `bench/admission_throughput.py` as its own process, as the admission agent runs (`make bench`
skips `_` scripts): the same Faust app options and broker profile as admission, the same
`take_events` batching, and no work per record. Prints one line: `<records> <seconds> <cpu_seconds>`, timed from the first batch.

Usage: .venv/bin/python bench/_faust_floor.py BOOTSTRAP TOPIC RECORDS
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
from streams.admission.agent import BATCH_MAX, BATCH_WITHIN_S
from streams.admission.faust_transport import ProfiledApp, app_options


def main() -> None:
    bootstrap, topic, records = sys.argv[1], sys.argv[2], int(sys.argv[3])
    profile = Settings().broker
    app = ProfiledApp(f"{topic}.faust-floor", broker_profile=profile, broker=f"kafka://{bootstrap}",
                      store="memory://", web_enabled=False, autodiscover=False,
                      datadir=str(Path(os.environ.get("TMPDIR", "/tmp")) / f"{topic}.faust-floor"),
                      **app_options(profile))
    source = app.topic(topic, partitions=1, key_type=bytes, value_type=bytes,
                       key_serializer="raw", value_serializer="raw")
    seen = 0
    started: list[tuple[float, float]] = []

    @app.agent(source, concurrency=1)
    async def count(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        nonlocal seen
        batches = cast(faust.Stream[bytes], stream).take_events(BATCH_MAX, within=BATCH_WITHIN_S)
        async for events in batches:
            if not started:
                started.append((time.perf_counter(), time.process_time()))
            seen += len(events)
            if seen >= records:
                wall0, cpu0 = started[0]
                print(seen, time.perf_counter() - wall0, time.process_time() - cpu0, flush=True)
                os._exit(0)
            yield None

    worker = faust.Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False)
    worker.spinner = None
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
