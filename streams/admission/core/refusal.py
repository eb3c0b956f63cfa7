"""`Refusal`: what a rule says when it refuses; `decide` turns it into a rejection verdict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from schemas.enums import RejectionCode
from streams.admission.core.facts import FieldProblem

Reason = Literal["depth", "wait", "preempted", "stale_signal", "missing_signal"]


@dataclass(frozen=True, slots=True)
class Refusal:
    code: RejectionCode
    title: str
    detail: str
    reason: Reason | None = None
    #: For queue refusals: the depth or the wait (seconds) that breached the policy.
    value: float | None = None
    value_unit: str | None = None
    #: Field-level problems (validation refusals).
    errors: tuple[FieldProblem, ...] = ()
