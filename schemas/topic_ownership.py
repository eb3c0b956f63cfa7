"""Who writes and who reads each topic, and which consumer group each role commits in: as data.

The topics table of the architecture ("written by") in code. Kafka ACLs are derived from it
(`kafka_acls`), so the principals a deployment creates can do exactly what their code does and
no more: a lane worker cannot write `tasks.requested` or `tasks.accepted`, the gateway cannot
write `events.lane`, nothing but admission writes decisions or lane items.

Roles are what a process does; a deployment gives each service its own principal with one role
(`PRINCIPALS` for the reference compose deployment).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from schemas.enums import RouteLane
from schemas.topics import Topics


class Role(StrEnum):
    admission = "admission"
    lane_anisora = "lane-anisora"
    lane_phr00t = "lane-phr00t"
    lane_shared = "lane-shared"
    audit_sink = "audit-sink"
    gateway = "gateway"
    #: `framegate lane degrade|restore` and `simulate --from-kafka`, run by an operator
    operator = "operator"
    #: a trusted producer writing `tasks.requested` directly (anything else uses the gateway)
    producer = "producer"
    #: `framegate topics create`
    topics_admin = "topics-admin"


LANE_ROLES: dict[RouteLane, Role] = {
    RouteLane.anisora: Role.lane_anisora,
    RouteLane.phr00t: Role.lane_phr00t,
    RouteLane.shared: Role.lane_shared,
}
LANES = tuple(LANE_ROLES.values())

Operation = Literal["Read", "Write"]


def lane_group(lane: RouteLane) -> str:
    """The consumer group of a lane's workers (they share its partitions)."""
    return f"framegate-lane-{lane.value}"


@dataclass(frozen=True)
class TopicAccess:
    """The roles that write and that read one topic (a `Topics` attribute or a lane)."""

    topic: str
    writers: tuple[Role, ...]
    readers: tuple[Role, ...]


def ownership(topics: Topics) -> list[TopicAccess]:
    """Every topic framegate uses, with who writes and who reads it."""
    decisions_readers = (Role.admission, Role.audit_sink, Role.gateway, Role.operator)
    table = [
        TopicAccess(topics.tasks_requested, (Role.gateway, Role.producer), (Role.admission, Role.operator)),
        TopicAccess(topics.tasks_accepted, (Role.admission,), decisions_readers),
        TopicAccess(topics.tasks_rejected, (Role.admission,), decisions_readers),
        TopicAccess(topics.events_task, (Role.admission, *LANES),
                    (Role.admission, *LANES, Role.audit_sink, Role.gateway, Role.operator)),
        TopicAccess(topics.events_lane, (*LANES, Role.operator),
                    (Role.admission, Role.audit_sink, Role.operator)),
        TopicAccess(topics.events_memory, (Role.admission, *LANES), (Role.audit_sink,)),
        TopicAccess(topics.admission_snapshots, (Role.admission,), (Role.admission,)),
        # the audit sink stores what it cannot map in ClickHouse; nothing writes this topic yet
        TopicAccess(topics.audit_deadletter, (), ()),
    ]
    table += [TopicAccess(topics.lane(lane), (Role.admission,), (role,))
              for lane, role in LANE_ROLES.items()]
    return table


def consumer_groups(admission_group: str, audit_group: str) -> dict[Role, str]:
    """The group each role commits offsets in (roles not listed read without a group)."""
    groups = {Role.admission: admission_group, Role.audit_sink: audit_group}
    groups |= {role: lane_group(lane) for lane, role in LANE_ROLES.items()}
    return groups


#: The reference deployment (compose/): one principal per service, each with one role.
PRINCIPALS: dict[str, Role] = {
    "admission": Role.admission,
    "admission-standby": Role.admission,
    "lane-anisora": Role.lane_anisora,
    "lane-phr00t": Role.lane_phr00t,
    "lane-shared": Role.lane_shared,
    "audit-sink": Role.audit_sink,
    "gateway": Role.gateway,
    "topics-init": Role.topics_admin,
    "operator": Role.operator,
    "trusted-producer": Role.producer,
}
