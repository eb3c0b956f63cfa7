"""The gateway's own errors, all under `FramegateError`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas.errors import FramegateError

if TYPE_CHECKING:
    from streams.gateway.problems import Problem


class GatewayError(FramegateError):
    """Base of every deliberate gateway error."""


class ProblemError(GatewayError):
    """Raised anywhere in a request to answer with a problem document."""

    def __init__(self, doc: Problem, headers: dict[str, str] | None = None) -> None:
        super().__init__(doc.title)
        self.doc = doc
        self.headers = headers


class BrokerUnavailable(GatewayError):
    """The broker did not take the request within the bounded wait."""


class KeyExists(GatewayError, ValueError):
    """`gateway keys add` for a key_id the keys file already holds."""


class FeedTopicMissing(GatewayError):
    """A topic the decision feed reads does not exist yet (`framegate topics create`)."""
