"""The one job whose mp4 is being written while the next job's pipeline runs.

The encode runs on its own thread, so the next pipeline need not wait for it; at most one job's
frames wait behind it. Its terminal event and commit follow once the write ends (`take`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from gpu_consumers.job_runner import Generated, JobReport
from gpu_consumers.work_items import Item
from schemas.enums import RouteLane


@dataclass
class Encoding:
    task_id: str
    future: asyncio.Future[JobReport]
    deliveries: list[Awaitable[object]]
    item: Item


class EncodeOverlap:
    def __init__(self, lane: RouteLane, finish: Callable[[Generated], JobReport]) -> None:
        self.finish = finish
        self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"encode-{lane.value}")
        self.encoding: Encoding | None = None

    @property
    def busy(self) -> bool:
        return self.encoding is not None

    def written(self) -> bool:
        """Whether the mp4 in hand is written (its terminal event may go out)."""
        return self.encoding is not None and self.encoding.future.done()

    def is_for(self, task_id: str) -> bool:
        return self.encoding is not None and self.encoding.task_id == task_id

    def start(self, task_id: str, generated: Generated, deliveries: list[Awaitable[object]], item: Item) -> None:
        assert self.encoding is None, "one encode at a time"
        future = asyncio.get_running_loop().run_in_executor(self._encoder, self.finish, generated)
        self.encoding = Encoding(task_id, future, deliveries, item)

    def take(self) -> Encoding | None:
        encoding, self.encoding = self.encoding, None
        return encoding

    def shutdown(self) -> None:
        self._encoder.shutdown(wait=False, cancel_futures=True)
