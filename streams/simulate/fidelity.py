"""Fidelity: does simulating the recorded set-up give back the recorded decisions?

Compared per request record (outcome and code of the decision answering it) and per preempted
task; every disagreement is listed with what differed and the recorded reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streams.simulate.history import History, RecordedDecision
from streams.simulate.replay import SimulatedDecisions


@dataclass(frozen=True)
class Disagreement:
    key: str
    task_id: str | None
    recorded: str
    simulated: str
    reason: str


@dataclass
class Fidelity:
    compared: int = 0
    agreed: int = 0
    carried: int = 0
    #: Requests replayed on the worker-event positions their recorded decision named (see `replay`).
    by_position: int = 0
    requests: int = 0
    disagreements: list[Disagreement] = field(default_factory=list)

    @property
    def agreement(self) -> float:
        return self.agreed / self.compared if self.compared else 1.0

    def line(self) -> str:
        return (f"fidelity: {self.agreed}/{self.compared} decisions reproduced "
                f"({100 * self.agreement:.2f}% outcome and code per task; "
                f"{self.carried} input rejections carried over as recorded; "
                f"{self.by_position}/{self.requests} requests decided on their recorded event positions, "
                "the rest on events up to their log time)")


def _label(d: RecordedDecision | None) -> str:
    if d is None:
        return "none"
    return d.outcome if d.code is None else f"{d.outcome} {d.code}"


def _why(recorded: RecordedDecision | None, simulated: RecordedDecision | None) -> str:
    if recorded is None:
        return "the simulation made a decision the record does not have"
    if simulated is None:
        return f"no simulated decision (recorded reason: {recorded.reason or '-'})"
    parts = []
    if recorded.lane != simulated.lane:
        parts.append(f"lane {recorded.lane} vs {simulated.lane}")
    if recorded.queue_depth != simulated.queue_depth:
        parts.append(f"queue depth {recorded.queue_depth} vs {simulated.queue_depth}")
    if recorded.reason != simulated.reason:
        parts.append(f"reason {recorded.reason or '-'} vs {simulated.reason or '-'}")
    return "; ".join(parts) or "same lane, depth and reason"


def check(history: History, simulated: SimulatedDecisions) -> Fidelity:
    result = Fidelity(carried=simulated.carried, by_position=simulated.by_position,
                      requests=len(history.arrivals))

    def compare(key: str, recorded: RecordedDecision | None, sim: RecordedDecision | None) -> None:
        result.compared += 1
        same = (recorded is not None and sim is not None and recorded.outcome == sim.outcome
                and recorded.code == sim.code)
        if same:
            result.agreed += 1
            return
        either = recorded or sim
        task = either.task_id if either is not None else None
        result.disagreements.append(Disagreement(key, task, _label(recorded), _label(sim), _why(recorded, sim)))

    for source in sorted(set(history.decisions) | set(simulated.primary)):
        compare(f"request p{source[0]}o{source[1]}", history.decisions.get(source), simulated.primary.get(source))
    for task in sorted(set(history.preemptions) | set(simulated.preemptions)):
        compare(f"preemption of {task}", history.preemptions.get(task), simulated.preemptions.get(task))
    return result
