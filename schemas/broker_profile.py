"""Kafka client settings per broker: every tansu workaround lives here and nowhere else.

Plain data (keyword arguments for aiokafka and Faust, the client's `KafkaSecurity` among them) so both halves of framegate share it
without importing each other. The one workaround that is code, not settings, sits beside it for
the same reason: `offset_holes` (a tansu fetch can skip a record another producer is writing;
consumers read such a hole again, a no-op on Kafka, whose logs here have no holes; admission's
request intake checks for holes only where `fetch_skips_records` says the broker makes them).
"""

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from schemas.client_logging import hide_record_values
from schemas.kafka_security import KafkaSecurity


class BrokerProfile(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    #: tansu makes a group join wait half the session timeout: keep sessions short.
    session_timeout_ms: int
    heartbeat_interval_ms: int
    #: tansu does not answer a waiting fetch early: a long wait is pure latency.
    fetch_max_wait_ms: int
    #: tansu's idempotent/transactional producer support is broken: at-least-once only.
    enable_idempotence: bool
    #: tansu auto-creates topics with 4 partitions: create them explicitly instead.
    auto_create_topics: bool
    #: tansu's latest-offset answer is wrong for multi-record batches: changelogs need
    #: single-record batches (Faust table recovery otherwise under-counts).
    single_record_changelog_batches: bool
    #: the same answer read by a catch-up (`log_tail`): read on past the reported end until a
    #: fetch finds nothing more.
    under_reports_end_offsets: bool = False
    #: tansu answers ListOffsets by timestamp with offset 0: find time bounds by reading instead.
    offsets_for_times: bool = True
    #: tansu's tailing fetch can skip a record another producer is writing at the same moment:
    #: readers that must not move past one read such holes again (`offset_holes`).
    fetch_skips_records: bool = False
    max_poll_interval_ms: int = 3_600_000
    rebalance_timeout_ms: int = 30_000
    #: who the client is and how it talks to the brokers; `Settings.broker` fills it in, so
    #: every client built through these helpers carries it
    security: KafkaSecurity = Field(default_factory=KafkaSecurity)

    def consumer_kwargs(self, bootstrap: str, group_id: str | None, **extra: Any) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "bootstrap_servers": bootstrap,
            "group_id": group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "session_timeout_ms": self.session_timeout_ms,
            "heartbeat_interval_ms": self.heartbeat_interval_ms,
            "fetch_max_wait_ms": self.fetch_max_wait_ms,
            "max_poll_interval_ms": self.max_poll_interval_ms,
            "rebalance_timeout_ms": self.rebalance_timeout_ms,
            **self.security.aiokafka_kwargs(),
        }
        kwargs.update(extra)
        return kwargs

    def producer_kwargs(self, bootstrap: str, **extra: Any) -> dict[str, Any]:
        hide_record_values()  # aiokafka would log each record's value (a prompt) at debug
        kwargs: dict[str, Any] = {
            "bootstrap_servers": bootstrap,
            "acks": "all",
            "enable_idempotence": self.enable_idempotence,
            "linger_ms": 2,
            **self.security.aiokafka_kwargs(),
        }
        kwargs.update(extra)
        return kwargs

    def admin_kwargs(self, bootstrap: str, **extra: Any) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"bootstrap_servers": bootstrap, **self.security.aiokafka_kwargs()}
        kwargs.update(extra)
        return kwargs

    def secured(self, security: KafkaSecurity) -> Self:
        """This profile for clients that authenticate and encrypt as `security` says."""
        return self.model_copy(update={"security": security})


BROKER_PROFILES: dict[str, BrokerProfile] = {
    "tansu": BrokerProfile(
        name="tansu",
        session_timeout_ms=4_000,
        heartbeat_interval_ms=1_000,
        fetch_max_wait_ms=10,
        enable_idempotence=False,
        auto_create_topics=False,
        under_reports_end_offsets=True,
        single_record_changelog_batches=True,
        offsets_for_times=False,
        fetch_skips_records=True,
    ),
    "kafka": BrokerProfile(
        name="kafka",
        session_timeout_ms=30_000,
        heartbeat_interval_ms=3_000,
        fetch_max_wait_ms=100,
        enable_idempotence=False,
        auto_create_topics=False,
        single_record_changelog_batches=False,
    ),
}
