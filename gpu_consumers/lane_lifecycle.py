"""A lane worker's clients and background duties: the group, the ledger, heartbeats, warm-up.

Each is a piece of the worker's start or stop, kept apart from the job path: the consumer
group a lane's workers share, the task ledger (caught up again on every partition assignment),
the heartbeat loop, the first model load, and closing the clients within the shutdown grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from gpu_consumers.errors import WorkerStopping
from gpu_consumers.metrics import WorkerMetrics
from gpu_consumers.shutdown import Grace, within
from gpu_consumers.task_ledger import TaskLedger
from schemas.enums import RouteLane
from schemas.limits import MAX_ID_CHARS
from schemas.settings import Settings
from schemas.topic_ownership import lane_group

log = logging.getLogger(__name__)


def group_id(lane: RouteLane) -> str:
    return lane_group(lane)  # the ACLs grant this group (schemas.topic_ownership)


def default_worker_id(lane: RouteLane) -> str:
    return f"{lane.value}-{socket.gethostname()}-{os.getpid()}"[:MAX_ID_CHARS]


class LedgerRefresh(ConsumerRebalanceListener):
    """Every lane-partition assignment makes the ledger catch up before the next job."""

    def __init__(self, ledger: TaskLedger) -> None:
        self.ledger = ledger

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.ledger.refresh()


def open_ledger(settings: Settings, metrics: WorkerMetrics) -> TaskLedger:
    """The worker's view of `events.task` (its refused events counted)."""
    broker, bootstrap = settings.broker, settings.kafka_bootstrap
    invalid = metrics.ledger_invalid_events.labels(metrics.lane)
    return TaskLedger(
        settings.topics.events_task,
        broker.consumer_kwargs(bootstrap, None, fetch_max_wait_ms=settings.lane_ledger_fetch_wait_ms),
        profile=broker,
        window_s=settings.lane_ledger_window_h * 3600.0,
        on_invalid=lambda _refused: invalid.inc(),
    )


def open_lane_consumer(settings: Settings, lane: RouteLane, ledger: TaskLedger) -> AIOKafkaConsumer:
    """A member of the lane's group, subscribed to the lane's topic."""
    consumer = AIOKafkaConsumer(**settings.broker.consumer_kwargs(settings.kafka_bootstrap, group_id(lane)))
    consumer.subscribe([settings.topics.lane(lane)], listener=LedgerRefresh(ledger))
    return consumer


async def warm_up(load: Callable[[], Awaitable[object]], what: str) -> None:
    """Load the lane's first model so the lane reports ready; a failure keeps the worker serving
    (jobs retry the load and fail with a clear code)."""
    try:
        await load()
    except Exception as exc:
        log.error("warm-up load of %s failed: %s", what, exc)


async def heartbeats(stop: asyncio.Event, interval_s: float, beat: Callable[[], Awaitable[None]]) -> None:
    """One heartbeat per interval until stop; a failed one is logged and the next one tried."""
    while not stop.is_set():
        try:
            await beat()
        except (KafkaError, OSError, ValidationError) as exc:
            log.warning("heartbeat not sent: %s", exc)
        except WorkerStopping:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)


async def cancel_all(*tasks: asyncio.Task[None]) -> None:
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def close_clients(
    consumer: AIOKafkaConsumer, ledger: TaskLedger, producer: AIOKafkaProducer, grace: Grace
) -> None:
    """Close the clients within what is left of the grace."""
    await within(consumer.stop(), grace, "closing the lane consumer")
    await within(ledger.stop(), grace, "closing the task ledger")
    await within(producer.stop(), grace, "closing the producer")
