"""`--what-if-queue-policy`: run the core under a queue policy other than the contract's.

The seed fixes the degraded queue policy (25 items / 30 s / `queue_overloaded`); `schemas` makes
any other value unrepresentable on purpose. The simulator may still ask "what would 40 / 60 s
have done": such a run's core state is built with that policy (`AdmissionConfig.queue_policy`,
never set by the live agent), and every output of it is labelled outside the contract.
"""

from __future__ import annotations

import re
from typing import Any

from schemas import DEGRADED_QUEUE_POLICY, DegradedQueuePolicy
from streams.simulate.errors import SimulateError

_SPEC = re.compile(r"^depth=(\d+),wait=(\d+(?:\.\d+)?)$")


def parse_policy(text: str) -> DegradedQueuePolicy:
    m = _SPEC.match(text.replace(" ", ""))
    if not m or int(m.group(1)) < 1 or float(m.group(2)) <= 0:
        raise SimulateError(f"--what-if-queue-policy {text!r}: expected depth=N,wait=SECONDS (N >= 1, SECONDS > 0)")
    # model_construct: the contract's Literal types refuse these values, which is the point.
    values: dict[str, Any] = {"max_depth": int(m.group(1)), "max_wait_seconds": float(m.group(2)),
                              "overflow_code": "queue_overloaded"}
    return DegradedQueuePolicy.model_construct(**values)


def label(policy: DegradedQueuePolicy) -> str | None:
    if policy.max_depth == DEGRADED_QUEUE_POLICY.max_depth and \
            policy.max_wait_seconds == DEGRADED_QUEUE_POLICY.max_wait_seconds:
        return None
    return (f"OUTSIDE THE CONTRACT: queue policy {policy.max_depth} items / {policy.max_wait_seconds:g} s "
            f"(contract: {DEGRADED_QUEUE_POLICY.max_depth} / {DEGRADED_QUEUE_POLICY.max_wait_seconds} s)")
