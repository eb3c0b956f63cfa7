"""Writes one table's rows to ClickHouse; a refusal becomes `SinkBackpressureError`.

The writer makes one attempt per call and never sleeps: how long to wait is its answer
(`retry_after`, exponential with jitter), and the sink decides what to do meanwhile (pause the
partitions, keep polling). ClickHouse lives here; the decision logic does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tenacity import RetryCallState, Retrying, wait_exponential_jitter

from streams.audit.errors import SinkBackpressureError
from streams.audit.rows import TABLE_COLUMNS


@dataclass
class Backoff:
    """Seconds to wait after the n-th consecutive failure: doubling from `initial_s` plus up to
    `initial_s` of jitter (so restarted sinks do not retry in step), never above `max_s`."""

    initial_s: float
    max_s: float
    wait: wait_exponential_jitter = field(init=False)

    def __post_init__(self) -> None:
        if self.initial_s <= 0 or self.max_s < self.initial_s:
            raise ValueError("backoff needs 0 < initial_s <= max_s")
        self.wait = wait_exponential_jitter(multiplier=self.initial_s, max=self.max_s, jitter=self.initial_s)

    def delay(self, attempt: int) -> float:
        state = RetryCallState(retry_object=Retrying(), fn=None, args=(), kwargs={})
        state.attempt_number = attempt
        return float(self.wait(state))


@dataclass
class ClickHouseWriter:
    client: Any
    database: str
    backoff: Backoff
    #: consecutive refused writes; the next refusal waits longer, a success resets it
    refusals: int = 0
    #: one reusable insert context per table: without it every insert first asks the server
    #: for the table's column types (a second round trip per table per batch)
    _contexts: dict[str, Any] = field(default_factory=dict)

    def write(self, table: str, rows: list[list[Any]]) -> None:
        """Blocking (run it in a thread). Raises `SinkBackpressureError` on any refusal."""
        try:
            context = self._contexts.get(table)
            if context is None:
                context = self.client.create_insert_context(
                    f"{self.database}.{table}", column_names=list(TABLE_COLUMNS[table])
                )
                self._contexts[table] = context
            context.data = rows
            self.client.insert(context=context)
        except Exception as exc:  # a server down, a detached table, a timeout: all mean "not now"
            # the table may come back changed (re-created by migrate): ask for its columns again
            self._contexts.pop(table, None)
            self.refusals += 1
            raise SinkBackpressureError(self.backoff.delay(self.refusals), table, exc) from exc
        self.refusals = 0
