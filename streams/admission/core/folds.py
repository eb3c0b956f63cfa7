"""Folding the logs into the state: lane events, task events and decisions.

The folds change the state they are given and nothing else, and every one of them is idempotent
(a record folded twice changes nothing the second time), so the start-up catch-up, the live
follower and the agent's own `apply` may all see the same record.
"""

from __future__ import annotations

import logging
import math
from collections import deque

from schemas.enums import DecisionOutcome, Priority, RouteLane, TaskStatus
from schemas.lane import AVAILABILITY_TRANSITIONS, MODE_TRANSITIONS, mode_reason_problem
from schemas.task_transitions import may_follow
from streams.admission.core.answer_rows import answer_row, event_id_text
from streams.admission.core.clock import longer_than
from streams.admission.core.facts import HeartbeatFacts, LaneStateFacts, TaskFacts
from streams.admission.core.lane_queue import QueuedItem
from streams.admission.core.state import (
    AdmissionState,
    DecidedOffsets,
    LaneState,
    LaneTransition,
    TaskRecord,
    WorkerSignal,
)
from streams.admission.core.verdict import Verdict

log = logging.getLogger(__name__)

_PENDING, _FAILED, _DONE = TaskStatus.pending, TaskStatus.failed, TaskStatus.done
_SHARED = RouteLane.shared
_ACCEPTED = DecisionOutcome.accepted
_STANDARD = Priority.standard
_NOT_EARLY: tuple[None, float] = (None, 0.0)


class _Refused(Exception):
    """A `lane_state` event the seed's transitions refuse (the fold counts and skips it)."""


def fold_lane(state: AdmissionState, facts: HeartbeatFacts | LaneStateFacts) -> LaneTransition | None:
    """Apply one `events.lane` record; returns the routing-mode transition it caused, if any."""
    if isinstance(facts, HeartbeatFacts):
        fold_heartbeat(state, facts)
        return None
    return fold_lane_state(state, facts)


def fold_heartbeat(state: AdmissionState, beat: HeartbeatFacts) -> None:
    lane = state.lanes[beat.lane]
    cfg = state.config
    at = beat.at
    worker_id = beat.worker_id
    previous = lane.workers.get(worker_id)
    if previous is not None and previous.beat.at > at:
        return  # an older heartbeat arriving late says nothing new
    over_since = None
    if beat.load1 > beat.cpu_cores * cfg.cpu_starvation_factor:
        over_since = previous.cpu_over_since if previous is not None and previous.cpu_over_since is not None else at
    signal = lane.workers[worker_id] = WorkerSignal(beat, over_since)
    oldest = lane.oldest_seen
    if oldest is not None and at < oldest:
        lane.oldest_seen = oldest = at
    health = lane.health
    if health is not None and (previous is None or worker_id not in health.live
                               or previous.standing(cfg) != signal.standing(cfg)):
        lane.health = None
    if oldest is None or longer_than(at, oldest, cfg.dedup_retention_s):  # someone may be gone
        _forget_gone_workers(lane, at, cfg.dedup_retention_s)


def _forget_gone_workers(lane: LaneState, now: float, retention_s: float) -> None:
    if lane.oldest_seen is not None and not longer_than(now, lane.oldest_seen, retention_s):
        return
    gone = [wid for wid, w in lane.workers.items() if longer_than(now, w.seen_at, retention_s)]
    for wid in gone:
        del lane.workers[wid]
        if lane.health is not None and wid in lane.health.live:
            lane.health = None
    lane.oldest_seen = min((w.seen_at for w in lane.workers.values()), default=None)


def fold_lane_state(state: AdmissionState, facts: LaneStateFacts) -> LaneTransition | None:
    """A `lane_state` event through the seed's transitions: all or nothing; a refused one is
    counted (`illegal_lane_transitions`) and changes nothing."""
    lane = state.lanes[facts.lane]
    old_mode = lane.routing
    try:
        _change_lane(lane, facts)
    except _Refused as exc:
        state.counters.illegal_lane_transitions += 1
        log.warning("ignoring lane event %s for %s: %s", facts.event_id, facts.lane.value, exc)
        return None
    new_mode = lane.routing
    if old_mode is None or new_mode is None or new_mode is old_mode:
        return None
    return LaneTransition(lane=facts.lane, old_mode=old_mode, new_mode=new_mode,
                          reason=facts.fallback_reason, at=facts.at)


def _change_lane(lane: LaneState, facts: LaneStateFacts) -> None:
    availability = lane.availability_set
    if facts.availability is not None:
        if facts.availability not in AVAILABILITY_TRANSITIONS[availability]:
            raise _Refused(f"illegal lane transition {availability.value} -> {facts.availability.value}")
        availability = facts.availability
    routing, reason = lane.routing, lane.fallback_reason
    if facts.mode is not None:
        if routing is None:
            raise _Refused("the shared lane has no routing mode")
        if facts.mode not in MODE_TRANSITIONS[routing]:
            raise _Refused(f"illegal routing mode transition {routing.value} -> {facts.mode.value}")
        problem = mode_reason_problem(facts.mode, facts.fallback_reason)
        if problem is not None:
            raise _Refused(f"lane {lane.lane.value}: {problem}")
        routing, reason = facts.mode, facts.fallback_reason
    lane.known = True
    lane.availability_set = availability
    if facts.warm is not None:
        lane.warm = facts.warm
    lane.routing, lane.fallback_reason = routing, reason
    lane.updated_at = facts.at


def fold_task(state: AdmissionState, facts: TaskFacts) -> bool:
    """Apply one `events.task` record; False (and counted) when the status may not follow.

    A started, finished or expired task leaves its lane's queue; a `done` feeds the service
    times. An event the task record `repeats` changes nothing.
    """
    task_id, status = facts.task_id, facts.status
    found = state.tasks.get(task_id)
    if found is None:
        # Read before its task's decision (catching up two logs at once), or about a task
        # decided before the dedup window: remembered for the decision, nothing to check.
        at = facts.at
        if at < state.newest_decision_ts - state.config.dedup_retention_s:
            return True  # its decision is older still: outside the window, never remembered
        early = state.early
        early[task_id] = (status, at)
        early.move_to_end(task_id)
        while len(early) > state.config.max_early_events:
            early.popitem(last=False)
        state.early_head_at = -math.inf  # the first entry may have changed
    elif found.repeats(status):
        return True
    elif not may_follow(found.status, status):
        state.counters.illegal_task_transitions += 1
        log.warning("ignoring task event %s for %s: %s -> %s is not a legal transition",
                    facts.event_id, task_id, found.status.value, status.value)
        return False
    else:
        found.status = status
        if status is not _PENDING:
            state.drop_from_queues(task_id)
    # A lane runs the next pipeline while the last mp4 is encoded and keeps models resident, so
    # the time a job holds its worker is its pipeline time (older events carry only the total).
    served = facts.served_s
    if status is _DONE and facts.lane is not None and served is not None:
        state.queues[facts.lane].service_times.append(served)
        times = state.model_service_times.get(facts.model)
        if times is None:
            times = state.model_service_times[facts.model] = deque(maxlen=state.config.service_window)
        times.append(served)
    return True


def sweep_expired(state: AdmissionState, now: float) -> None:
    """Stop counting the shared lane's items that waited past the policy at `now`.

    The worker drops them unstarted when it reaches them (and reports the `queue_timeout`);
    admission only stops counting them towards depth.
    """
    for item in state.queues[_SHARED].expired(now):
        state.drop_from_queues(item.task_id)


def _same_answer(a: Verdict, b: Verdict) -> bool:
    return a.answer_key() == b.answer_key() and event_id_text(a) == event_id_text(b)


def fold_verdict(state: AdmissionState, verdict: Verdict) -> None:
    """Apply one decision (ours, just made, or read back from the logs).

    Idempotent: a decision already folded changes nothing. A rejection of a task that already
    has a decision is either a preemption (it wins over the acceptance) or changes nothing: a
    re-send's answer never rewrites the task's own decision. Every decision that was routed
    sweeps the shared queue at its time first, as `decide` did before deciding it.
    """
    position = verdict.position
    if position is not None:
        offsets = state.decided_offsets.get(position[0])
        if offsets is None:
            offsets = state.decided_offsets[position[0]] = DecidedOffsets()
        offsets.add(position[1])
    task_id = verdict.task_id
    if task_id is None or verdict.replayed or verdict.decided_earlier:  # not `fresh`
        return
    at = verdict.at
    if verdict.lane is not None:
        sweep_expired(state, at)
    previous = state.record(task_id, at)
    if verdict.reason == "preempted":
        if previous is not None and previous.preempted:
            return
        state.drop_from_queues(task_id)
        state.remember(task_id, TaskRecord(
            status=_FAILED,
            decided_ts=previous.decided_ts if previous is not None else at,
            row=answer_row(verdict),
            preempted=True,
        ))
        return
    if previous is not None:
        if not previous.preempted and not _same_answer(previous.answer, verdict):
            state.counters.conflicting_decisions += 1
        return
    accepted = verdict.outcome is _ACCEPTED
    record = TaskRecord(status=_PENDING if accepted else _FAILED, decided_ts=at, row=answer_row(verdict))
    early = state.early.pop(task_id, _NOT_EARLY)[0] if state.early else None
    if early is not None:
        state.early_head_at = -math.inf  # it may have been the first entry
    if accepted and early is not None and early is not _PENDING:
        record.status = early  # the worker's events were read first; they are later in fact
    state.remember(task_id, record)
    if accepted and record.status is _PENDING and verdict.lane is not None:
        state.queues[verdict.lane].add(QueuedItem(
            task_id=task_id,
            priority=verdict.priority or _STANDARD,
            enqueued_at=at,
            model=verdict.model,
            task_type=verdict.task_type,
            submitted_at=verdict.created_at,
        ))


#: A decision read back from the logs folds as the verdict it renders.
fold_decision = fold_verdict

__all__ = ["fold_decision", "fold_heartbeat", "fold_lane", "fold_lane_state", "fold_task",
           "fold_verdict", "sweep_expired"]
