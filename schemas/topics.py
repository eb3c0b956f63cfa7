"""Topic names (the external contract) and their partition counts."""

from dataclasses import dataclass

from schemas.enums import RouteLane

DEFAULT_PREFIX = "framegate."


@dataclass(frozen=True)
class Topics:
    """All topic names under one configurable prefix."""

    prefix: str = DEFAULT_PREFIX

    @property
    def tasks_requested(self) -> str:
        return f"{self.prefix}tasks.requested"

    @property
    def tasks_accepted(self) -> str:
        return f"{self.prefix}tasks.accepted"

    @property
    def tasks_rejected(self) -> str:
        return f"{self.prefix}tasks.rejected"

    def lane(self, lane: RouteLane | str) -> str:
        return f"{self.prefix}lane.{RouteLane(lane).value}"

    @property
    def events_task(self) -> str:
        return f"{self.prefix}events.task"

    @property
    def events_lane(self) -> str:
        return f"{self.prefix}events.lane"

    @property
    def events_memory(self) -> str:
        return f"{self.prefix}events.memory"

    @property
    def admission_snapshots(self) -> str:
        """Admission's folded state, chunked; log-compacted where the broker supports it."""
        return f"{self.prefix}admission.snapshots"

    @property
    def audit_deadletter(self) -> str:
        return f"{self.prefix}audit.deadletter"

    def partitions(self) -> dict[str, int]:
        """Every topic framegate uses, with its partition count.

        Lane topics have 2 partitions so two workers of a group can share a lane; the event
        logs have 1 so their order is total, which keeps replayed admission deterministic.
        `tasks.requested` has 1 too: admission decides over shared lane queues (a degraded
        model's requests join the `shared` queue), so the request order must be total for a
        replay to decide the same way; one admission worker owns every lane queue. A faster
        admission scales by a faster worker, not by partitions (see README "Admission").
        """
        counts = {
            self.tasks_requested: 1,
            self.tasks_accepted: 1,
            self.tasks_rejected: 1,
            self.events_task: 1,
            self.events_lane: 1,
            self.events_memory: 1,
            self.audit_deadletter: 1,
            self.admission_snapshots: 1,
        }
        counts.update({self.lane(lane): 2 for lane in RouteLane})
        return counts

    def compacted(self) -> set[str]:
        """Topics whose records are superseded by key: `cleanup.policy=compact`."""
        return {self.admission_snapshots}

    def audited(self) -> list[str]:
        """Topics the audit sink copies into ClickHouse."""
        return [
            self.events_task,
            self.events_lane,
            self.events_memory,
            self.tasks_accepted,
            self.tasks_rejected,
        ]
