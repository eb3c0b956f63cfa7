"""`--what-if-queue-policy`: run the core under a queue policy other than the contract's.

The seed fixes the degraded queue policy (25 items / 30 s / `queue_overloaded`); `schemas` makes
any other value unrepresentable on purpose. The simulator may still ask "what would 40 / 60 s
have done": the policy object the admission modules read is swapped for the run and put back
after, and every output of such a run is labelled outside the contract.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from schemas import DEGRADED_QUEUE_POLICY, DegradedQueuePolicy
from streams.admission import decide as decide_module
from streams.admission import queue_policy as queue_policy_module
from streams.admission import withdrawal as withdrawal_module
from streams.simulate.errors import SimulateError

#: Admission modules that read the policy as a module global.
_READERS = (decide_module, queue_policy_module, withdrawal_module)
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


@contextmanager
def queue_policy(policy: DegradedQueuePolicy) -> Iterator[None]:
    saved = [module.DEGRADED_QUEUE_POLICY for module in _READERS]
    for module in _READERS:
        setattr(module, "DEGRADED_QUEUE_POLICY", policy)  # noqa: B010 - a module global, by name
    try:
        yield
    finally:
        for module, value in zip(_READERS, saved, strict=True):
            setattr(module, "DEGRADED_QUEUE_POLICY", value)  # noqa: B010
