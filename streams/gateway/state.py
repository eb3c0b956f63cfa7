"""Everything one gateway process holds, reached from a request through `gateway_state`."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from schemas.settings import Settings
from streams.gateway.auth import KeyRing
from streams.gateway.decisions import DecisionWaiters
from streams.gateway.feed import GatewayFeed
from streams.gateway.metrics import GatewayMetrics
from streams.gateway.publisher import RequestPublisher
from streams.gateway.status import StatusBook


@dataclass
class GatewayState:
    settings: Settings
    keys: KeyRing
    metrics: GatewayMetrics
    waiters: DecisionWaiters
    book: StatusBook
    publisher: RequestPublisher
    feed: GatewayFeed

    @property
    def broker_ready(self) -> bool:
        """What /healthz and `framegate_gateway_broker_up` report: feed and producer both up."""
        return self.feed.ready.is_set() and self.publisher.connected

    @classmethod
    def build(cls, settings: Settings, keys: KeyRing | None = None) -> GatewayState:
        metrics = GatewayMetrics()
        waiters = DecisionWaiters()
        book = StatusBook(settings.gateway_tracked_tasks)
        return cls(
            settings=settings,
            keys=keys or KeyRing(settings.resolved_gateway_keys_file),
            metrics=metrics,
            waiters=waiters,
            book=book,
            publisher=RequestPublisher(settings),
            feed=GatewayFeed(settings, waiters, book, metrics),
        )


def gateway_state(request: Request) -> GatewayState:
    """FastAPI dependency: the state `create_app` attached to the application."""
    state: GatewayState = request.app.state.gateway
    return state
