"""The common envelope every event on the wire carries."""

from datetime import UTC, datetime
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


def utc_now() -> datetime:
    return datetime.now(UTC)


class WireModel(BaseModel):
    """Base of every wire message: unknown fields and NaN/inf are refused.

    Enums and datetimes parse from their JSON strings; numeric request fields are declared
    `strict` where they are so that `"8"` or `8.5` is a type error, not a silent coercion.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    def to_wire(self) -> bytes:
        return self.model_dump_json(exclude_none=False).encode()


class Envelope(WireModel):
    """`event_id` makes redelivered copies collapse in ClickHouse; `occurred_at` is UTC."""

    #: Subclasses narrow `event_type` to their own enum or literal.
    event_id: UUID = Field(default_factory=uuid4)
    occurred_at: AwareDatetime = Field(default_factory=utc_now)
    schema_version: int = Field(default=SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION)
