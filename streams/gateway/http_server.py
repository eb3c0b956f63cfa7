"""The gateway's HTTP/1.1 server: uvicorn with its h11 protocol, whose refusals are problems too.

uvicorn answers what it cannot parse (a head over h11's size limit, a broken request line) with
a text/plain 400 before the application sees anything. The gateway's contract is that every
answer is a problem document, so the protocol here checks each request head as it arrives
(`request_head.refused_head`: 414 or 431 over `gateway_max_request_head_bytes`), and answers
h11's own refusals with a problem as well. h11 reads a head that arrives in one piece whatever
its size, so its limit alone would let a large head through or not depending on how the client's
bytes were split; the check here does not depend on that.

After a refusal the rest of the request is read and dropped for a moment before the connection
closes: closing a socket with unread bytes makes the kernel reset it, and the client could lose
the answer.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from schemas.settings import Settings
from streams.gateway.problems import Problem
from streams.gateway.request_head import invalid_request, raw_response, refused_head

#: How long a refused connection keeps reading (and dropping) the client's bytes.
DRAIN_S = 2.0


class ProblemH11Protocol(H11Protocol):
    """uvicorn's h11 protocol; request heads over the limit and unparseable requests get a
    problem document instead of uvicorn's text/plain 400."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit = self.config.h11_max_incomplete_event_size
        if limit is None:
            raise ValueError("the gateway's protocol needs h11_max_incomplete_event_size: use server_config")
        self.head_limit: int = limit
        self.refused = False

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return  # the rest of a refused request: dropped
        if self.conn.their_state is h11.IDLE:  # between requests: data starts (or continues) a head
            held, _ = self.conn.trailing_data
            doc = refused_head(held + data, self.head_limit)
            if doc is not None:
                self.refuse(doc)
                return
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        """Called by uvicorn when h11 refuses the bytes it holds."""
        held, _ = self.conn.trailing_data
        self.refuse(refused_head(held, self.head_limit) or invalid_request())

    def eof_received(self) -> None:
        if self.refused:
            self.transport.close()
        else:
            super().eof_received()

    def refuse(self, doc: Problem) -> None:
        self.refused = True
        self.logger.info("refused a request from %s: %s %s", self.client, doc.status, doc.code)
        self.transport.write(raw_response(doc))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        asyncio.get_running_loop().call_later(DRAIN_S, self.transport.close)


def server_config(app: Any, settings: Settings, host: str, port: int, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for the gateway: its protocol and its request head limit."""
    return uvicorn.Config(
        app, host=host, port=port, http=ProblemH11Protocol,
        h11_max_incomplete_event_size=settings.gateway_max_request_head_bytes, **options,
    )
