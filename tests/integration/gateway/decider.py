"""Stand-in for the admission agent in the gateway's tests: real Kafka in, real decisions out.

Reads `tasks.requested` and writes an `AdmissionDecision` keyed by task_id to `tasks.accepted`
or `tasks.rejected` (plus a `pending` TaskEvent for accepted ones), exactly as admission does on
the wire. It only decides by a fixed mode, so the gateway's tests do not depend on admission's
rules. Kept in this one module so it can be swapped for the real `framegate admission` later.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from schemas.broker_profile import BROKER_PROFILES
from schemas.decisions import AdmissionDecision, FieldError
from schemas.enums import DecisionOutcome, LaneMode, Priority, RejectionCode, RouteLane, TaskStatus
from schemas.envelope import utc_now
from schemas.requests import GenerationRequest
from schemas.tasks import GenerationTask, TaskEvent
from schemas.topics import Topics
from schemas.wire import decode

Mode = Literal["accept", "overload", "silent"]
PROFILE = BROKER_PROFILES["tansu"]


def decide(
    request: GenerationRequest, mode: Mode, critical_producers: frozenset[str]
) -> AdmissionDecision:
    if request.priority is Priority.critical and request.producer not in critical_producers:
        return AdmissionDecision(
            outcome=DecisionOutcome.rejected,
            task_id=request.task_id,
            model=request.model,
            priority=request.priority,
            status=403,
            code=RejectionCode.priority_not_authorised,
            title="Priority not authorised",
            detail=f"producer {request.producer!r} may not submit critical",
        )
    if mode == "overload" and request.priority is not Priority.critical:
        return AdmissionDecision(
            outcome=DecisionOutcome.rejected,
            task_id=request.task_id,
            model=request.model,
            priority=request.priority,
            status=503,
            code=RejectionCode.queue_overloaded,
            title="Queue overloaded",
            detail="shared lane queue holds 25 items (max 25)",
            retry_after_seconds=30,
            lane=RouteLane.shared,
            lane_mode=LaneMode.degraded_shared,
            queue_depth=25,
            reason="depth",
        )
    return AdmissionDecision(
        outcome=DecisionOutcome.accepted,
        task_id=request.task_id,
        model=request.model,
        priority=request.priority,
        lane=RouteLane(request.model.value),
        lane_mode=LaneMode.dedicated,
        queue_depth=1,
        estimated_wait_seconds=0.0,
        request=request,
    )


@dataclass
class TestDecider:
    """Runs in its own thread and event loop; `with TestDecider(...) as d:` waits until it reads."""

    bootstrap: str
    topics: Topics
    mode: Mode = "accept"
    critical_producers: frozenset[str] = frozenset()
    seen: list[str] = field(default_factory=list)
    _ready: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _error: BaseException | None = None

    __test__ = False  # not a pytest class

    def __enter__(self) -> TestDecider:
        self._thread = threading.Thread(target=self._main, name="test-decider", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError(f"test decider did not start: {self._error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # surfaced by __enter__ if it happens before ready
            self._error = exc
            self._ready.set()

    async def _run(self) -> None:
        consumer = AIOKafkaConsumer(**PROFILE.consumer_kwargs(self.bootstrap, None))
        producer = AIOKafkaProducer(**PROFILE.producer_kwargs(self.bootstrap))
        await consumer.start()
        await producer.start()
        try:
            await consumer.topics()
            parts = consumer.partitions_for_topic(self.topics.tasks_requested) or set()
            tps = [TopicPartition(self.topics.tasks_requested, p) for p in sorted(parts)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            for tp in tps:
                await consumer.position(tp)
            self._ready.set()
            while not self._stop.is_set():
                batches = await consumer.getmany(timeout_ms=100)
                for records in batches.values():
                    for record in records:
                        await self._answer(producer, record.value or b"")
        finally:
            await consumer.stop()
            await producer.stop()

    async def _answer(self, producer: AIOKafkaProducer, payload: bytes) -> None:
        try:
            request = decode(GenerationRequest, payload)
        except ValidationError as exc:
            self.seen.append("<invalid>")
            errors = [
                FieldError(loc=[str(p) for p in e["loc"]], msg=e["msg"][:2000], type=e["type"])
                for e in exc.errors()[:64]
            ]
            decision = AdmissionDecision(
                outcome=DecisionOutcome.rejected,
                task_id=None,
                status=422,
                code=RejectionCode.validation_error,
                title="Validation error",
                errors=errors,
            )
            await producer.send_and_wait(self.topics.tasks_rejected, decision.to_wire())
            return
        self.seen.append(request.task_id)
        if self.mode == "silent":
            return
        decision = decide(request, self.mode, self.critical_producers)
        key = request.task_id.encode()
        if decision.outcome is DecisionOutcome.accepted:
            await producer.send_and_wait(self.topics.tasks_accepted, decision.to_wire(), key=key)
            now = utc_now()
            task = GenerationTask(
                id=request.task_id,
                model=request.model.value,
                type=request.type.value,
                status=TaskStatus.pending,
                created_at=now,
                updated_at=now,
            )
            event = TaskEvent(task=task, lane=decision.lane)
            await producer.send_and_wait(self.topics.events_task, event.to_wire(), key=key)
        else:
            await producer.send_and_wait(self.topics.tasks_rejected, decision.to_wire(), key=key)
