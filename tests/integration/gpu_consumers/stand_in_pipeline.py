"""A stand-in for a diffusers pipeline: the real lane worker loop around it, no model behind it.

It *sleeps* a fixed time per denoising step (no CPU, like a GPU kernel the host waits on) and
returns frames of the requested shape, so the worker's encode, artifact write and Kafka work are
what compete with it, as on a GPU host. Benchmarks and the soak run hand `stand_in(...)` to
`LaneWorker(loader=...)`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np

from gpu_consumers.pipelines import LoadedPipeline
from schemas import ModelName


class SleepingPipe:
    """`WanImageToVideoPipeline`'s call shape: sleeps per step, returns float frames in [0, 1]."""

    def __init__(self, step_s: float) -> None:
        self.step_s = step_s
        self.frames: dict[tuple[int, ...], np.ndarray] = {}

    def __call__(self, **kw: Any) -> Any:
        callback = kw.get("callback_on_step_end")
        for step in range(kw["num_inference_steps"]):
            time.sleep(self.step_s)
            if callback is not None:
                callback(self, step, None, {})
        shape = (kw["num_frames"], kw["height"], kw["width"], 3)
        if shape not in self.frames:  # made once per shape: the stand-in spends no CPU per job
            self.frames[shape] = np.random.default_rng(7).random(shape, dtype=np.float32)
        return SimpleNamespace(frames=[self.frames[shape]])


def stand_in(step_s: float, load_s: float = 0.0) -> Callable[[ModelName], LoadedPipeline]:
    """A `LaneWorker` loader whose pipelines sleep `step_s` per step (and `load_s` per load)."""

    def load(model: ModelName) -> LoadedPipeline:
        time.sleep(load_s)
        return LoadedPipeline(model=model, pipe=SleepingPipe(step_s), device="cpu", load_seconds=load_s)

    return load
