"""Contract priority: critical needs an authorised producer, is never degraded or preempted;
only `background` can be preempted, and only by a higher class."""

from __future__ import annotations

from schemas import GenerationRequest, Priority
from streams.admission.state import AdmissionConfig, LaneQueue, QueuedItem


def authorised(request: GenerationRequest, config: AdmissionConfig) -> bool:
    if request.priority is not Priority.critical:
        return True
    return request.producer is not None and request.producer in config.critical_producers


def may_degrade(priority: Priority) -> bool:
    return priority is not Priority.critical


def preemption_victim(queue: LaneQueue, priority: Priority) -> QueuedItem | None:
    """The newest queued `background` item, if `priority` outranks it."""
    if priority.rank >= Priority.background.rank:
        return None
    for item in reversed(queue.items.values()):
        if item.priority is Priority.background:
            return item
    return None
