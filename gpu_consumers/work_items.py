"""A work item on a lane partition: where it came from (what its commit needs) and whether it runs.

Pure checks over the decoded record: a work item runs only if it is an accepted decision for this
lane whose request carries the decision's task id; anything else is reported as `failed`
against its key and committed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from pydantic import ValidationError

from gpu_consumers.queue_wait import expired
from schemas.decisions import AdmissionDecision
from schemas.enums import DecisionOutcome, RouteLane
from schemas.wire import PayloadTooLarge, decode

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    """Where a work item came from: what its commit needs."""

    consumer: AIOKafkaConsumer
    tp: TopicPartition
    offset: int

    async def commit(self) -> None:
        try:
            await self.consumer.commit({self.tp: self.offset + 1})
        except (CommitFailedError, IllegalStateError) as exc:
            # The partition moved to another member mid-job: it redelivers, the ledger dedupes.
            log.warning("commit of %s@%d failed: %s", self.tp, self.offset, exc)


def check(message: ConsumerRecord, lane: RouteLane) -> AdmissionDecision | str:
    """A runnable accepted decision, or why the item cannot run."""
    try:
        decision = decode(AdmissionDecision, message.value or b"")
    except (ValidationError, PayloadTooLarge) as exc:
        return f"work item is not a valid AdmissionDecision: {exc}"
    if decision.outcome is not DecisionOutcome.accepted or decision.request is None:
        return "work item is not an accepted decision"
    if decision.lane is not lane:
        return f"work item for lane {decision.lane} arrived on lane {lane.value}"
    if decision.request.task_id != decision.task_id:
        return "work item task_id differs from its request's task_id"
    return decision


def runs_next(
    decision: AdmissionDecision, running_task: str, *, current: bool, ended: bool, starts: int, now: datetime
) -> bool:
    """An item the job thread may start without the serving loop's checks: a first attempt of
    another task, the ledger current, not finished, not expired. The rest take the usual path."""
    return (
        decision.task_id != running_task
        and current
        and not ended
        and starts == 0
        and expired(decision, now) is None
    )
