"""What the demo has seen so far, folded from the event topics (pure: no Kafka here)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from schemas import (
    WITHDRAWAL_POLICY,
    AdmissionDecision,
    Availability,
    DecisionOutcome,
    LaneEvent,
    LaneEventType,
    LaneMode,
    MemoryDiagnosticEvent,
    MemoryEventType,
    RouteLane,
    TaskEvent,
    TaskStatus,
)
from schemas.tasks import TERMINAL

Message = AdmissionDecision | TaskEvent | LaneEvent | MemoryDiagnosticEvent


@dataclass
class LaneView:
    mode: LaneMode = LaneMode.dedicated
    availability: Availability | None = None
    warm: bool = False
    workers: set[str] = field(default_factory=set)
    load1: float | None = None
    cpu_cores: int | None = None
    peak_depth: int = 0
    peak_memory_gib: dict[str, float] = field(default_factory=dict)


@dataclass
class Tally:
    decisions: dict[str, AdmissionDecision] = field(default_factory=dict)
    unparseable_rejections: int = 0
    status: dict[str, TaskStatus] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)
    memory_events: Counter[MemoryEventType] = field(default_factory=Counter)
    lanes: dict[RouteLane, LaneView] = field(
        default_factory=lambda: {lane: LaneView() for lane in RouteLane}
    )
    preempted: set[str] = field(default_factory=set)

    def apply(self, message: Message) -> None:
        if isinstance(message, AdmissionDecision):
            self._decision(message)
        elif isinstance(message, TaskEvent):
            self._task(message)
        elif isinstance(message, LaneEvent):
            self._lane(message)
        else:
            self._memory(message)

    def _decision(self, decision: AdmissionDecision) -> None:
        if decision.task_id is None:
            self.unparseable_rejections += 1
            return
        if decision.reason == "preempted":
            self.preempted.add(decision.task_id)
        # a preemption follows the acceptance of the same task: the latest decision stands
        self.decisions[decision.task_id] = decision
        if decision.lane is not None and decision.queue_depth is not None:
            view = self.lanes[decision.lane]
            view.peak_depth = max(view.peak_depth, decision.queue_depth)

    def _task(self, event: TaskEvent) -> None:
        current = self.status.get(event.task_id)
        if current in TERMINAL:
            return  # redeliveries never move a finished task
        self.status[event.task_id] = event.task.status
        if event.task.status is TaskStatus.failed and event.error_code is not None:
            self.failures[event.error_code.value] += 1

    def _lane(self, event: LaneEvent) -> None:
        view = self.lanes[event.lane_key]
        if event.mode is not None:
            view.mode = event.mode
        if event.availability is not None:
            view.availability = event.availability
        if event.event_type is LaneEventType.heartbeat:
            view.warm = bool(event.warm)
            if event.worker_id:
                view.workers.add(event.worker_id)
            if event.host is not None:
                view.load1, view.cpu_cores = event.host.load1, event.host.cpu_cores

    def _memory(self, event: MemoryDiagnosticEvent) -> None:
        self.memory_events[event.event_type] += 1
        if event.lane is not None and isinstance(event.value, float | int) and event.value_unit:
            peaks = self.lanes[event.lane].peak_memory_gib
            peaks[event.value_unit] = max(peaks.get(event.value_unit, 0.0), float(event.value))

    # --- questions the demo asks -------------------------------------------------------------

    def host_settled(self, factor: float = WITHDRAWAL_POLICY.cpu_load_per_core) -> bool:
        """Every lane's last heartbeat shows load1 within the `cpu_starvation` threshold."""
        return all(
            view.load1 is not None
            and view.cpu_cores is not None
            and view.load1 <= view.cpu_cores * factor
            for view in self.lanes.values()
        )

    def outcome_counts(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for decision in self.decisions.values():
            key = (
                "accepted"
                if decision.outcome is DecisionOutcome.accepted
                else f"refused {decision.code}"
            )
            counts[key] += 1
        return counts

    def decided(self, task_ids: list[str]) -> bool:
        return all(task_id in self.decisions for task_id in task_ids)

    def settled(self, task_ids: list[str]) -> bool:
        """Every task in `task_ids` is decided, and each accepted one reached done or failed."""
        return all(
            (d := self.decisions.get(task_id)) is not None
            and (d.outcome is not DecisionOutcome.accepted or self.status.get(task_id) in TERMINAL)
            for task_id in task_ids
        )

    def count_status(self, status: TaskStatus) -> int:
        return sum(1 for s in self.status.values() if s is status)
