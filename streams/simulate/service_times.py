"""Service time of each simulated job: its own recorded run, else a seeded sample of the same model.

A recorded run is scaled when the simulated job is bigger or smaller than the recorded one (e.g.
no elastic step-down): GPU work is taken as proportional to pixels x frames x steps. A job that
never ran is sampled from the recorded runs of its model at the same resolution and frame count,
else from any run of its model, scaled by that cost.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar, cast

from schemas import ModelName, TaskEvent, TaskStatus
from streams.simulate.errors import SimulateError
from streams.simulate.history import History

T = TypeVar("T")


class JobShape(Protocol):
    """What a job's GPU time depends on (a request's facts, as admitted)."""

    @property
    def model(self) -> ModelName: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def num_frames(self) -> int: ...
    @property
    def steps(self) -> int: ...


@dataclass(slots=True, init=False)  # a written __init__ compiles (streams/compiled.py)
class Shape:
    """A job's shape as it runs: a request's after an elastic step-down."""

    model: ModelName
    width: int
    height: int
    num_frames: int
    steps: int

    def __init__(self, model: ModelName, width: int, height: int, num_frames: int,
                 steps: int) -> None:
        self.model = model
        self.width = width
        self.height = height
        self.num_frames = num_frames
        self.steps = steps


def shape_cost(width: int, height: int, num_frames: int, steps: int) -> float:
    return float(width * height * num_frames * steps)


def cost(request: JobShape) -> float:
    return shape_cost(request.width, request.height, request.num_frames, request.steps)


@dataclass(frozen=True)
class Run:
    seconds: float
    #: Cost of the request as it ran, when known (None: taken as the simulated one's).
    cost: float | None


def _choice(rng: random.Random, seq: Sequence[T]) -> T:
    """What `rng.choice(seq)` picks: CPython draws `getrandbits(len(seq).bit_length())` until
    it is below the length, and so does this, so a seed picks the same runs. Written out because
    compiled code then calls it without two interpreted frames per job."""
    n = len(seq)
    if not n:
        raise IndexError("cannot choose from an empty sequence")
    bits = n.bit_length()
    r = rng.getrandbits(bits)
    while r >= n:
        r = rng.getrandbits(bits)
    return seq[r]


class ServiceTimes:
    def __init__(self, runs: dict[str, Run], models: dict[str, str], seed: int) -> None:
        self.runs = runs
        self.rng = random.Random(seed)
        self.by_shape: dict[tuple[str, int, int, int], list[float]] = defaultdict(list)
        self.by_model: dict[str, list[Run]] = defaultdict(list)
        for task_id, run in runs.items():
            model = models.get(task_id)
            if model is not None:
                self.by_model[model].append(run)
        self.everything = list(runs.values())
        #: Per (model, width, height, frames) of a job that never ran: the pool its time is drawn
        #: from, and whether the pool is of that very shape (its times taken as they are).
        self.pools: dict[tuple[ModelName, int, int, int], tuple[list[float] | list[Run], bool]] = {}

    def add_shape(self, model: str, request: JobShape, seconds: float) -> None:
        self.by_shape[(model, request.width, request.height, request.num_frames)].append(seconds)
        self.pools.clear()

    def _pool(self, key: tuple[ModelName, int, int, int]) -> tuple[list[float] | list[Run], bool]:
        model, width, height, frames = key
        shape = self.by_shape.get((model.value, width, height, frames))
        found = self.pools[key] = (shape, True) if shape else (self.by_model.get(model.value) or self.everything, False)
        return found

    def seconds_of(self, task_id: str, model: ModelName, width: int, height: int, num_frames: int,
                   steps: int, shape_known: bool = True) -> float:
        """GPU seconds of a job, given as its shape's values (what the simulation has at hand)."""
        run = self.runs.get(task_id)
        if run is not None:
            if run.cost is None or not shape_known:
                return run.seconds
            return run.seconds * shape_cost(width, height, num_frames, steps) / run.cost
        if not shape_known:
            return _choice(self.rng, self.by_model.get(model) or self.everything).seconds
        key = (model, width, height, num_frames)
        pool, same_shape = self.pools.get(key) or self._pool(key)
        pick = _choice(self.rng, pool)
        if same_shape:
            return cast(float, pick)
        assert isinstance(pick, Run)
        return pick.seconds if pick.cost is None else pick.seconds * shape_cost(width, height, num_frames, steps) / pick.cost


def recorded_service_times(history: History, granted: dict[str, JobShape], seed: int) -> ServiceTimes:
    """Runs from `done` events (their `duration_seconds`), else from processing -> terminal times.

    `granted`: the request each task ran with, when known (its cost scales the run).
    """
    started: dict[str, float] = {}
    runs: dict[str, Run] = {}
    models: dict[str, str] = {}
    for timed in history.task_events:
        event = timed.event
        if not isinstance(event, TaskEvent):
            continue
        task = event.task
        status = task.status
        if status is TaskStatus.processing:
            started[task.id] = timed.ts
        elif status is TaskStatus.done:
            seconds = event.duration_seconds
            if seconds is None and task.id in started:
                seconds = timed.ts - started[task.id]
            if seconds is not None:
                req = granted.get(task.id)
                runs[task.id] = Run(seconds, cost(req) if req is not None else None)
                models[task.id] = task.model
    if not runs:
        raise SimulateError("no `done` events in the window: there are no service times to replay "
                            "(widen the window or pick one in which jobs finished)")
    times = ServiceTimes(runs, models, seed)
    for task_id, run in runs.items():
        req = granted.get(task_id)
        if req is not None:
            times.add_shape(req.model.value, req, run.seconds)
    return times
