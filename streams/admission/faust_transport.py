"""The one place Faust is adapted to the broker profile (see `schemas.broker_profile`).

faust-streaming 0.15.3 hardcodes `fetch_max_wait_ms=1500` for worker consumers. tansu does not
answer a waiting fetch early, so every fetch of an idle partition would cost 1.5 s of latency.
`ProfiledApp` builds its transport with a consumer thread that resets the fetch wait to the
profile's value before the aiokafka consumer starts.

Its consumer also hands the records of topics registered with `ProfiledApp.intake` to a
`RecordIntake` a fetch at a time, instead of one by one through a channel to an agent (see
`intake.py`); every other topic takes Faust's own path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

import aiokafka
import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message, TopicT, TransportT
from mode import Service

from schemas.broker_profile import BrokerProfile
from schemas.offset_holes import HoleGuard
from streams.admission.intake import RecordIntake


def _thread_class(profile: BrokerProfile) -> type[faust_aiokafka.AIOKafkaConsumerThread]:
    class ProfiledConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
            consumer = super()._create_worker_consumer(transport)
            # Read by aiokafka when it builds its Fetcher in start(), which has not run yet.
            consumer._fetch_max_wait_ms = profile.fetch_max_wait_ms
            return consumer

    return ProfiledConsumerThread


def transport_class(profile: BrokerProfile) -> type[faust_aiokafka.Transport]:
    thread = _thread_class(profile)

    class ProfiledConsumer(faust_aiokafka.Consumer):
        def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
            return thread(self, loop=self.loop, beacon=self.beacon)

        async def _drain_messages(self, fetcher: Any) -> None:
            """Faust's fetch loop, with records of intake topics handed over a fetch at a time.

            Follows `Consumer._drain_messages` of faust-streaming 0.15.3 (pinned): offsets, gaps
            and commits are kept as it keeps them, and other topics still go through its
            per-record callback. An intake record is tracked (pending ack) before it is handed
            over, as the conductor does for an agent's. A hole the fetch left in an intake
            topic is read again (`offset_holes`) before Faust would record it as a gap and
            commit past it: a request skipped there would never be decided.
            """
            intakes = cast(ProfiledApp, self.app).intakes
            holes = HoleGuard()
            #: per intake partition, the offset after the last record taken, and the intake's
            #: generation then (a revocation clears the intake: positions restart from the commit)
            next_of: dict[TP, int] = {}
            generation_of: dict[TP, int] = {}

            def expected(tp: TP, intake: RecordIntake, last: int | None) -> int | None:
                if generation_of.get(tp) != intake.generation:
                    generation_of[tp] = intake.generation
                    next_of.pop(tp, None)
                # first record since the assignment: Faust's read offset is then the committed
                # one (the next to read), or None for a group that never committed
                return next_of.get(tp, last)
            callback = self.callback
            consumer_stopped = self._stopped.is_set
            fetcher_stopped = cast(Service, fetcher)._stopped.is_set
            read_offset = self._read_offset
            acks_enabled_for = self.app.topics.acks_enabled_for
            try:
                while not (consumer_stopped() or fetcher_stopped()):
                    self.diag.set_flag(CONSUMER_FETCHING)
                    fetched = self.getmany(timeout=1.0)
                    await self.sleep(0)
                    if self.should_stop:
                        continue
                    handed: dict[str, list[Message]] = {}
                    reread: set[TP] = set()
                    since_yield = 0
                    async for tp, message in fetched:
                        since_yield += 1
                        if since_yield > 100:
                            await asyncio.sleep(0)
                            since_yield = 0
                        if tp in reread:
                            continue  # fetched past a hole: read again after the seek
                        offset, last = message.offset, read_offset[tp]
                        if last is not None and offset < last:
                            continue
                        if tp.topic in intakes:
                            hole = holes.check(tp, expected(tp, intakes[tp.topic], last), offset)
                            if hole is not None:
                                reread.add(tp)
                                await self.seek_wait({tp: hole})
                                read_offset[tp] = hole - 1 if hole else None
                                continue
                            next_of[tp] = offset + 1
                        if last and offset - last > 1 and acks_enabled_for(message.topic):
                            await self._add_gap(tp, last + 1, offset)
                        if self._commit_every is not None and self._n_acked >= self._commit_every:
                            self._n_acked = 0
                            await self.commit()
                        if tp.topic in intakes:
                            self.track_message(message)
                            handed.setdefault(tp.topic, []).append(message)
                        else:
                            await self.wait_first(callback(message), self.suspend_flow.wait())
                        read_offset[tp] = offset
                    for topic, records in handed.items():
                        intake = intakes[topic]
                        intake.put_many(records)
                        if not intake.room.is_set():
                            await self.wait_first(intake.room.wait(), self.suspend_flow.wait())
                    self.diag.unset_flag(CONSUMER_FETCHING)
            except self.consumer_stopped_errors:
                if self.transport.app.should_stop:
                    return
                raise
            except asyncio.CancelledError:
                if self.transport.app.should_stop:
                    return
                raise
            except Exception:
                self.log.exception("Drain messages raised")
                raise
            finally:
                self.diag.unset_flag(CONSUMER_FETCHING)

    class ProfiledTransport(faust_aiokafka.Transport):
        Consumer = ProfiledConsumer

    return ProfiledTransport


class ProfiledApp(faust.App):
    """A Faust app whose Kafka transport follows a `BrokerProfile`.

    `early_tasks` start with the app itself, alongside the consumer's first group join, where
    `@app.task` would wait for the join (and for the web server) to finish first. `intake`
    subscribes a topic whose records go to a `RecordIntake` instead of an agent.
    """

    broker_profile: BrokerProfile

    def __init__(self, id: str, *, broker_profile: BrokerProfile, **options: Any) -> None:
        self.broker_profile = broker_profile
        self.early_tasks: list[Callable[[], Awaitable[None]]] = []
        self.intakes: dict[str, RecordIntake] = {}
        super().__init__(id, **options)

    def intake(self, topic: TopicT, limit: int) -> RecordIntake:
        """Subscribe to `topic` and hand its records to the returned intake (see `intake.py`).

        Revoked partitions clear it with the agents' buffers (Faust's flow control).
        """
        intake = RecordIntake(limit)
        for name in topic.topics:
            self.intakes[name] = intake
        self.topics.add(topic)
        self.flow_control.manage_queue(cast(Any, intake))
        return intake

    async def on_start(self) -> None:
        await super().on_start()
        for task in self.early_tasks:
            self.add_future(task())

    def _new_transport(self) -> TransportT:
        return transport_class(self.broker_profile)(self.conf.broker_consumer, self)


def app_options(profile: BrokerProfile) -> dict[str, Any]:
    """Faust settings derived from the profile (seconds where Faust wants seconds)."""
    session = profile.session_timeout_ms / 1000
    return {
        "broker_session_timeout": session,
        "broker_heartbeat_interval": profile.heartbeat_interval_ms / 1000,
        "broker_request_timeout": max(40.0, session * 2),
        "broker_rebalance_timeout": profile.rebalance_timeout_ms / 1000,
        "broker_max_poll_interval": profile.max_poll_interval_ms / 1000,
        "consumer_auto_offset_reset": "earliest",
        # Topics are created by `framegate topics create`; Faust must not auto-create them
        # (tansu would make 4 partitions) nor its assignor leader topic.
        "topic_allow_declare": profile.auto_create_topics,
        "topic_disable_leader": True,
        "broker_max_poll_records": 2000,
        "stream_buffer_maxsize": 16384,
        # A decision embeds its request (~2 kB): 16 kB batches fill after a few and then every
        # send waits a broker round trip for the partition's in-flight batch.
        "producer_max_batch_size": 1_048_576,
        "producer_acks": -1,
        "producer_linger": 0.002,
    }


def run_worker(app: faust.App, loglevel: str) -> None:
    """Run `app` in Faust's worker until SIGINT/SIGTERM (the worker handles both).

    Faust's terminal spinner (on for loglevel >= warning) sets the ROOT logger to DEBUG so it can
    spin on every record, and every aiokafka debug call then builds a LogRecord: it is left off,
    so the root logger keeps `loglevel`.
    """
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    worker.spinner = None
    worker.execute_from_commandline()
