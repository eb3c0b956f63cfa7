"""`DegradedQueuePolicy`: the fixed overload policy of degraded shared-worker mode."""

from typing import Literal

from pydantic import BaseModel, ConfigDict


class DegradedQueuePolicy(BaseModel):
    """Fixed for this feature version: the literal types refuse any other value, `frozen` any change."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    max_depth: Literal[25] = 25
    max_wait_seconds: Literal[30] = 30
    overflow_code: Literal["queue_overloaded"] = "queue_overloaded"


DEGRADED_QUEUE_POLICY = DegradedQueuePolicy()
