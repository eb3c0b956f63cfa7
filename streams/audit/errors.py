"""Errors of the audit package, all under `FramegateError`."""

from __future__ import annotations

from schemas.errors import FramegateError


class AuditError(FramegateError):
    """Base of every deliberate error of the audit sink, schema and reports."""


class InvalidDatabaseName(AuditError, ValueError):
    """A database name that is not a plain ClickHouse identifier (names are spliced into DDL)."""


class RowError(AuditError, ValueError):
    """A schema-valid message that still cannot be stored (a number beyond its column)."""


class SinkBackpressureError(AuditError):
    """ClickHouse refused a write: the checkpoint is kept, the partitions pause for `retry_after`.

    Raised by the writer, handled by the sink loop, which keeps polling (so the group keeps its
    member) while the consumed partitions are paused, then retries the same checkpoint.
    """

    def __init__(self, retry_after: float, table: str, cause: BaseException) -> None:
        super().__init__(f"insert into {table} refused, retry in {retry_after:.2f}s: {cause}")
        self.retry_after = retry_after
        self.table = table
        self.cause = cause
