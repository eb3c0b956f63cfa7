"""The one place Faust is adapted to the broker profile (see `schemas.broker_profile`).

faust-streaming 0.15.3 hardcodes `fetch_max_wait_ms=1500` for worker consumers. tansu does not
answer a waiting fetch early, so every fetch of an idle partition would cost 1.5 s of latency.
`ProfiledApp` builds its transport with a consumer thread that resets the fetch wait to the
profile's value before the aiokafka consumer starts; everything else is stock Faust.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiokafka
import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TransportT

from schemas.broker_profile import BrokerProfile


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

    class ProfiledTransport(faust_aiokafka.Transport):
        Consumer = ProfiledConsumer

    return ProfiledTransport


class ProfiledApp(faust.App):
    """A Faust app whose Kafka transport follows a `BrokerProfile`.

    `early_tasks` start with the app itself, alongside the consumer's first group join, where
    `@app.task` would wait for the join (and for the web server) to finish first.
    """

    broker_profile: BrokerProfile

    def __init__(self, id: str, *, broker_profile: BrokerProfile, **options: Any) -> None:
        self.broker_profile = broker_profile
        self.early_tasks: list[Callable[[], Awaitable[None]]] = []
        super().__init__(id, **options)

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
