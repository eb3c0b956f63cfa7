"""The withdrawal memo (`LaneHealth`) never changes an answer.

Random heartbeats (workers coming, going stale, saturating, starving, hitting their quota, turning
cold or unavailable), a shared queue around full, and a clock that moves onto and next to the
staleness and starvation boundaries, and sometimes back: at every check, `check_withdrawal` with the memo carried along gives what
it gives with the memo dropped first.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import Availability, LaneMode, ModelName, Priority, RejectionCode, RouteLane
from streams.admission.core.lane_queue import QueuedItem
from streams.admission.core.refusal import Refusal
from streams.admission.core.routing import Route
from streams.admission.core.withdrawal import Capacity, check_withdrawal
from streams.admission.state import AdmissionState, fold_lane_event
from tests.factories import T0, heartbeat

LANES = (RouteLane.anisora, RouteLane.shared)

beats = st.fixed_dictionaries({
    "lane": st.sampled_from(LANES),
    "worker": st.sampled_from(["w1", "w2", "w3"]),
    "offset": st.integers(-4, 4).map(lambda h: h / 2),
    "availability": st.sampled_from([Availability.ready, Availability.ready, Availability.cold,
                                     Availability.unavailable]),
    "warm": st.booleans(),
    "artifact_write_ms": st.sampled_from([None, 12.0, 5000.0]),
    "load1": st.sampled_from([0.2, 0.2, 50.0]),
    "gpu_sessions_in_use": st.sampled_from([0, 1]),
    "shared_fallback_enabled": st.booleans(),
    "gpu_sessions_quota_exhausted": st.sampled_from([False, False, True]),
})
#: Clock moves: most land on or next to the 15 s staleness and 30 s starvation boundaries.
moves = st.sampled_from([0.0, 0.5, 5.0, 14.5, 15.0, 15.5, 29.5, 30.0, 30.5, -1.0])
steps = st.tuples(moves, st.one_of(
    st.tuples(st.just("beat"), beats),
    st.tuples(st.just("check"), st.sampled_from(LANES), st.sampled_from(list(Priority))),
    st.tuples(st.just("check"), st.sampled_from(LANES), st.sampled_from(list(Priority))),
    st.tuples(st.just("shared"), st.integers(23, 26)),
))


def route_of(lane: RouteLane) -> Route:
    if lane is RouteLane.shared:
        return Route(lane=RouteLane.shared, mode=LaneMode.degraded_shared, home=RouteLane.anisora)
    return Route(lane=lane, mode=LaneMode.dedicated, home=lane)


def fill_shared(s: AdmissionState, depth: int) -> None:
    queue = s.queue(RouteLane.shared)
    queue.items.clear()
    for i in range(depth):
        queue.add(QueuedItem(task_id=f"q{i}", priority=Priority.standard, enqueued_at=T0.timestamp(),
                             model=ModelName.anisora))


@settings(max_examples=300, deadline=None)
@given(st.lists(steps, min_size=1, max_size=40))
def test_the_memo_never_changes_an_answer(script: list[tuple[float, tuple[Any, ...]]]) -> None:
    s = AdmissionState()
    clock = 0.0
    for move, step in script:
        clock = max(0.0, clock + move)
        kind = step[0]
        if kind == "beat":
            b = dict(step[1])
            lane, worker, offset = b.pop("lane"), b.pop("worker"), b.pop("offset")
            fold_lane_event(s, heartbeat(lane, T0 + timedelta(seconds=clock + offset), worker,
                                         gpu_session_quota=1, **b))
        elif kind == "shared":
            fill_shared(s, step[1])
        else:
            _, lane, priority = step
            now = T0 + timedelta(seconds=clock)
            state_lane = s.lane(lane)
            with_memo = check_withdrawal(s, route_of(lane), (now).timestamp(), priority)[0]
            kept = state_lane.health
            state_lane.health = None
            afresh = check_withdrawal(s, route_of(lane), (now).timestamp(), priority)[0]
            state_lane.health = kept
            assert with_memo == afresh


def test_the_memo_is_kept_across_heartbeats_that_change_nothing_it_reads() -> None:
    s = AdmissionState()
    fold_lane_event(s, heartbeat(RouteLane.anisora, T0, "w1"))
    fold_lane_event(s, heartbeat(RouteLane.anisora, T0, "w2"))
    lane = s.lane(RouteLane.anisora)
    check_withdrawal(s, route_of(RouteLane.anisora), (T0 + timedelta(seconds=1)).timestamp(), Priority.standard)[0]
    memo = lane.health
    assert memo is not None and memo.healthy == 2
    # A fresh heartbeat with another load below the threshold: same standing, same memo.
    fold_lane_event(s, heartbeat(RouteLane.anisora, T0 + timedelta(seconds=2), "w1", load1=1.0))
    assert lane.health is memo
    # Write latency over the limit: the standing changed, the memo is dropped.
    fold_lane_event(s, heartbeat(RouteLane.anisora, T0 + timedelta(seconds=3), "w1", artifact_write_ms=5000.0))
    assert lane.health is None
    # A new worker joins the live ones: dropped as well.
    check_withdrawal(s, route_of(RouteLane.anisora), (T0 + timedelta(seconds=4)).timestamp(), Priority.standard)[0]
    assert lane.health is not None
    fold_lane_event(s, heartbeat(RouteLane.anisora, T0 + timedelta(seconds=4), "w3"))
    assert lane.health is None


def test_a_memo_ends_when_a_live_worker_starts_to_starve() -> None:
    # Over the CPU threshold from 0 s, heartbeats every 14 s keep it live: it starves strictly
    # after 30 s, while the memo found at 28 s would otherwise hold until 42 s (staleness).
    s = AdmissionState()
    for second in (0, 14, 28):
        fold_lane_event(s, heartbeat(RouteLane.anisora, T0 + timedelta(seconds=second), "w1", load1=50.0))
    route = route_of(RouteLane.anisora)
    assert check_withdrawal(s, route, (T0 + timedelta(seconds=28)).timestamp(), Priority.standard)[0] == \
        Capacity(workers=1, time_to_ready_s=0.0)
    assert s.lane(RouteLane.anisora).health is not None
    assert isinstance(check_withdrawal(s, route, (T0 + timedelta(seconds=30)).timestamp(), Priority.standard)[0], Capacity)
    starved = check_withdrawal(s, route, (T0 + timedelta(seconds=30, microseconds=1)).timestamp(), Priority.standard)[0]
    assert isinstance(starved, Refusal) and starved.code is RejectionCode.cpu_starvation
