"""Recorded history, whatever it was read from: arrivals, task and lane events, and decisions.

Times are kept twice: as `datetime` (what the admission core takes) and as float seconds since
the epoch (what the event queue orders by).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from schemas import GenerationRequest, LaneEvent, TaskEvent
from streams.admission.core.facts import RequestFacts, UnparsedFacts


@dataclass(frozen=True)
class RecordedDecision:
    """The fields of a recorded decision the fidelity check and the answers need."""

    at: datetime
    outcome: str
    code: str | None
    task_id: str | None
    model: str | None
    priority: str | None
    lane: str | None
    lane_mode: str | None
    queue_depth: int | None
    reason: str | None
    replayed: bool
    #: (partition, offset) of the request it answers; None for a preemption.
    source: tuple[int, int] | None
    #: The recorded agent's folded positions in `events.task` / `events.lane` when it decided
    #: (None: not recorded, e.g. a replay or a record from before they existed).
    events_task_upto: int | None = None
    events_lane_upto: int | None = None


@dataclass(slots=True, init=False)  # a written __init__ compiles (streams/compiled.py)
class Arrival:
    """One record of `tasks.requested` at its log time. Made once and never changed; not frozen,
    since a frozen dataclass sets each field through `object.__setattr__` and a day of traffic
    makes millions of them."""

    ts: float
    at: datetime
    partition: int
    offset: int
    #: The request as submitted (Kafka) or as reconstructed from its decision (ClickHouse).
    request: GenerationRequest | None
    #: The raw record (Kafka input only): parsed by the admission parser, bad bytes included.
    payload: bytes | None = None
    #: A recorded input rejection with neither payload nor request (ClickHouse input): carried
    #: over as recorded, since it never depends on capacity.
    carried: RecordedDecision | None = None
    #: False when the request's size was not recorded (a refusal read from ClickHouse): its
    #: service time is then sampled from its model's runs as they were, never scaled.
    shape_known: bool = True
    #: The record as the core's facts, when it was made as facts (a synthetic day) or already
    #: read once for every run of its history (`streams.simulate.core.read_once`).
    facts: RequestFacts | UnparsedFacts | None = None
    #: `at` as epoch seconds, when its maker had them at hand (a synthetic day); see `epoch`.
    at_ts: float | None = None

    def __init__(self, ts: float, at: datetime, partition: int, offset: int,
                 request: GenerationRequest | None, payload: bytes | None = None,
                 carried: RecordedDecision | None = None, shape_known: bool = True,
                 facts: RequestFacts | UnparsedFacts | None = None, at_ts: float | None = None) -> None:
        self.ts = ts
        self.at = at
        self.partition = partition
        self.offset = offset
        self.request = request
        self.payload = payload
        self.carried = carried
        self.shape_known = shape_known
        self.facts = facts
        self.at_ts = at_ts

    def epoch(self) -> float:
        """`at` as epoch seconds (what the core decides at)."""
        at_ts = self.at_ts
        return at_ts if at_ts is not None else self.at.timestamp()


@dataclass(frozen=True)
class TimedEvent:
    ts: float
    event: TaskEvent | LaneEvent
    #: Its offset in its (one-partition) log; None when not known (a synthetic event).
    offset: int | None = None


@dataclass
class History:
    #: Where it came from, for the output ("chdb:///...", "kafka 127.0.0.1:19092").
    origin: str
    start: float
    end: float
    arrivals: list[Arrival] = field(default_factory=list)
    task_events: list[TimedEvent] = field(default_factory=list)
    lane_events: list[TimedEvent] = field(default_factory=list)
    #: Recorded decisions answering a request, by (partition, offset).
    decisions: dict[tuple[int, int], RecordedDecision] = field(default_factory=dict)
    #: Recorded preemptions, by the preempted task id.
    preemptions: dict[str, RecordedDecision] = field(default_factory=dict)
    #: Settings of the recorded agent the reader could not see (see `authorisation`).
    notes: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return max(0.0, self.end - self.start)
