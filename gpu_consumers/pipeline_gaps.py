"""Where the GPU waits: the time from one pipeline's end to the next one's start, by stage.

The stages of a gap happen one after another on the critical path (job thread, event loop, job
thread again), so each `mark` charges the time since the previous mark to its stage. Marks made
while a pipeline runs are off the critical path and charge nothing: work moved there (the next
item's fetch, the previous job's bookkeeping) drops out of the split. A gap is counted only after
a pipeline has ended, so the wait for the first item is not one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: The stages of a gap, in the order they happen.
STAGES = (
    "post_generation",  # job thread: from the pipeline's end to `generate` returning
    "hand_back",  # the job's result reaching the event loop
    "encode_wait",  # the previous job's mp4 still being written
    "terminal_commit",  # the previous job's terminal event handed over, its commit scheduled
    "bookkeeping",  # metrics, status, the encode hand-off
    "fetch",  # the next record in hand
    "admit",  # decode, ledger check, the `processing` event
    "dispatch",  # the job reaching the job thread
    "acquire",  # the model from the cache
    "pre_pipeline",  # the rest, up to the pipeline's start
)


class PipelineGaps:
    """Seconds per stage over every gap, summed; thread-safe (marks come from two threads)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._since: float | None = None  # the last mark of the open gap; None while none is open
        self._open = dict.fromkeys(STAGES, 0.0)
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self.gaps = 0

    def pipeline_ended(self) -> None:
        with self._lock:
            self._since = self._clock()
            self._open = dict.fromkeys(STAGES, 0.0)

    def mark(self, stage: str) -> None:
        """Charge the time since the previous mark to `stage` (nothing while a pipeline runs)."""
        with self._lock:
            if self._since is None:
                return
            now = self._clock()
            self._open[stage] += now - self._since
            self._since = now

    def pipeline_started(self) -> None:
        with self._lock:
            if self._since is not None:
                self._open["pre_pipeline"] += self._clock() - self._since
                for stage, seconds in self._open.items():
                    self.seconds[stage] += seconds
                self.gaps += 1
            self._since = None
            self._open = dict.fromkeys(STAGES, 0.0)

    def total(self) -> float:
        with self._lock:
            return sum(self.seconds.values())
