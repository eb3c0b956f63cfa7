"""The seed's fixed policies: `DegradedQueuePolicy` (degraded shared-worker mode) and
`WithdrawalPolicy` (the degradation contract's hard-fail thresholds)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DegradedQueuePolicy(BaseModel):
    """Fixed for this feature version: the literal types refuse any other value, `frozen` any change."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    max_depth: Literal[25] = 25
    max_wait_seconds: Literal[30] = 30
    overflow_code: Literal["queue_overloaded"] = "queue_overloaded"


DEGRADED_QUEUE_POLICY = DegradedQueuePolicy()


class WithdrawalPolicy(BaseModel):
    """The degradation contract's hard-fail thresholds (section 4): admission refuses a lane whose
    workers report artifact writes over `io_saturation_ms`, or load1 over cores x
    `cpu_load_per_core` for more than `cpu_starvation_seconds`. Fixed like the queue policy."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    io_saturation_ms: Literal[1500] = 1500
    #: A float has no `Literal`: the bounds pin it instead.
    cpu_load_per_core: float = Field(default=1.5, ge=1.5, le=1.5)
    cpu_starvation_seconds: Literal[30] = 30


WITHDRAWAL_POLICY = WithdrawalPolicy()
