"""Synthetic histories: steady arrivals with a known service time, for tests and `bench/`.

Each model gets `runs` recorded `done` events of `service_s` before the window (the pool every
simulated job samples from), and arrivals come every `1 / rate` seconds, models alternating.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from schemas import (
    GenerationRequest,
    LaneEvent,
    LaneEventType,
    LaneMode,
    ModelName,
    Priority,
    RouteLane,
    TaskStatus,
)
from schemas.task_events import task_event
from streams.admission.core.facts import RequestFacts
from streams.admission.ingest import request_facts
from streams.simulate.history import Arrival, History, TimedEvent

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_STEPS = {ModelName.anisora: 8, ModelName.phr00t: 4}


def template(model: ModelName, task_id: str, priority: Priority = Priority.standard,
             at: datetime = EPOCH) -> GenerationRequest:
    return GenerationRequest(task_id=task_id, model=model, prompt="synthetic", input_image="file:///s.png",
                             steps=_STEPS[model], cfg=1.0, width=832, height=480, num_frames=81, fps=16,
                             priority=priority, submitted_at=at)


def done_runs(service_s: float, runs: int = 3) -> list[TimedEvent]:
    out = []
    for model in ModelName:
        for i in range(runs):
            at = EPOCH - timedelta(seconds=3600 - i)
            event = task_event(f"seed-{model.value}-{i}", model.value, "image_to_video", TaskStatus.done, at, at,
                               lane=RouteLane(model.value), duration_seconds=service_s, artifact_path="/a.mp4")
            out.append(TimedEvent(at.timestamp(), event))
    return out


def degrade(model: ModelName, at_s: float) -> TimedEvent:
    at = EPOCH + timedelta(seconds=at_s)
    event = LaneEvent(event_type=LaneEventType.lane_state, lane_key=RouteLane(model.value),
                      mode=LaneMode.degraded_shared, fallback_reason="capacity", occurred_at=at)
    return TimedEvent(at.timestamp(), event)


def restore(model: ModelName, at_s: float) -> TimedEvent:
    at = EPOCH + timedelta(seconds=at_s)
    event = LaneEvent(event_type=LaneEventType.lane_state, lane_key=RouteLane(model.value), mode=LaneMode.dedicated,
                      occurred_at=at)
    return TimedEvent(at.timestamp(), event)


def with_identity(base: RequestFacts, task_id: str, submitted_at: float, offset: int) -> RequestFacts:
    """`base` as the request `task_id` submitted at `submitted_at`, at `offset` of partition 0."""
    return RequestFacts(task_id, base.model, base.model_name, base.priority, base.task_type, base.producer, base.width,
                        base.height, base.fps, base.num_frames, base.steps, base.encoding_profile,
                        submitted_at, base.input_scheme, f"p0o{offset}", (0, offset))


def arrivals(rate: float, seconds: float, models: tuple[ModelName, ...] = tuple(ModelName),
             priorities: tuple[Priority, ...] = (Priority.standard,)) -> Iterator[Arrival]:
    """Arrivals built lazily (a day at 50/s would not fit in memory as a list of requests), made
    as the core's facts: the template request's, read once, with each arrival's id and time."""
    bases = {(m, p): request_facts(template(m, "t", p), None, EPOCH) for m in models for p in priorities}
    # Models alternate and each full round of them takes the next priority: the template of
    # arrival i is `turns[i % len(turns)]`.
    turns = [bases[models[j % len(models)], priorities[(j // len(models)) % len(priorities)]]
             for j in range(len(models) * len(priorities))]
    n = int(rate * seconds)
    step = 1.0 / rate
    start = EPOCH.timestamp()
    for i in range(n):
        ts = start + i * step
        at = datetime.fromtimestamp(ts, UTC)
        at_ts = at.timestamp()
        yield Arrival(ts, at, 0, i, None, facts=with_identity(turns[i % len(turns)], f"s{i}", at_ts, i), at_ts=at_ts)


#: Priorities taken in turn by `authorised_arrivals` (a pair of requests, one per model, per turn).
TURNS = (Priority.standard, Priority.background, Priority.critical, Priority.standard, Priority.background)


def authorised_arrivals(rate: float, seconds: float, prefix: str, producer: str) -> list[Arrival]:
    """Both models alternating, every priority of `TURNS` in turn, all sent by `producer` (one
    allowed to send `critical`), task ids `<prefix><i>`."""
    out = []
    for i in range(int(rate * seconds)):
        ts = EPOCH.timestamp() + i / rate
        at = datetime.fromtimestamp(ts, UTC)
        model = (ModelName.anisora, ModelName.phr00t)[i % 2]
        request = template(model, f"{prefix}{i}", TURNS[(i // 2) % len(TURNS)], at)
        request = request.model_copy(update={"producer": producer})
        out.append(Arrival(ts=ts, at=at, partition=0, offset=i, request=request))
    return out


def history(rate: float, seconds: float, service_s: float, lane_events: list[TimedEvent] | None = None,
            models: tuple[ModelName, ...] = tuple(ModelName),
            priorities: tuple[Priority, ...] = (Priority.standard,), materialise: bool = True) -> History:
    h = History(origin="synthetic", start=EPOCH.timestamp(), end=EPOCH.timestamp() + seconds)
    h.task_events = done_runs(service_s)
    h.lane_events = list(lane_events or [])
    if materialise:
        h.arrivals = list(arrivals(rate, seconds, models, priorities))
    return h
