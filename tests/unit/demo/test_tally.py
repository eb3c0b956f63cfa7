"""The demo's fold of decisions and events (pure) and the metric-change check."""

from __future__ import annotations

from schemas import (
    Availability,
    LaneMode,
    MemoryEventType,
    ModelName,
    Priority,
    RejectionCode,
    RouteLane,
    TaskStatus,
)
from streams.demo.metrics_scrape import unchanged_families
from streams.demo.scenario import RequestFactory
from streams.demo.tally import Tally
from tests import factories


def test_tally_counts_outcomes_preemption_and_peaks() -> None:
    tally = Tally()
    req = factories.request(ModelName.phr00t, priority=Priority.background)
    tally.apply(
        factories.accepted(
            req, lane=RouteLane.shared, lane_mode=LaneMode.degraded_shared, queue_depth=25
        )
    )
    assert tally.outcome_counts() == {"accepted": 1}
    tally.apply(factories.rejected(task_id=req.task_id, reason="preempted"))
    assert tally.outcome_counts() == {"refused queue_overloaded": 1}
    assert tally.preempted == {req.task_id}
    assert tally.lanes[RouteLane.shared].peak_depth == 25
    assert tally.decided([req.task_id])


def test_tally_task_status_never_leaves_a_terminal_state() -> None:
    tally = Tally()
    req = factories.request(ModelName.phr00t)
    assert not tally.settled([req.task_id])  # undecided is not settled
    tally.apply(factories.accepted(req))
    assert not tally.settled([req.task_id])
    done = factories.task_event(
        TaskStatus.done, task=factories.task(TaskStatus.done, id=req.task_id)
    )
    tally.apply(done)
    redelivered = factories.task_event(
        TaskStatus.processing, task=factories.task(TaskStatus.processing, id=req.task_id)
    )
    tally.apply(redelivered)
    assert tally.status[req.task_id] is TaskStatus.done
    assert tally.settled([req.task_id])
    assert tally.count_status(TaskStatus.done) == 1


def test_tally_lane_mode_heartbeats_and_memory() -> None:
    tally = Tally()
    tally.apply(factories.degrade(RouteLane.anisora))
    tally.apply(factories.heartbeat(RouteLane.shared, availability=Availability.ready))
    tally.apply(factories.memory_event(MemoryEventType.fallback_activated, lane=RouteLane.anisora))
    tally.apply(factories.memory_event(value=2.5, value_unit="rss_gib", lane=RouteLane.phr00t))
    tally.apply(factories.memory_event(value=1.5, value_unit="rss_gib", lane=RouteLane.phr00t))
    assert tally.lanes[RouteLane.anisora].mode is LaneMode.degraded_shared
    assert tally.lanes[RouteLane.shared].warm
    assert tally.memory_events[MemoryEventType.fallback_activated] == 1
    assert tally.lanes[RouteLane.phr00t].peak_memory_gib == {"rss_gib": 2.5}


def test_unparseable_rejections_are_counted_apart() -> None:
    tally = Tally()
    tally.apply(
        factories.rejected(
            RejectionCode.malformed_request,
            status=422,
            task_id=None,
            source={"topic": "x", "partition": 0, "offset": 1},
        )
    )
    assert tally.unparseable_rejections == 1
    assert tally.decisions == {}


def test_scenario_requests_are_valid_and_unique() -> None:
    factory = RequestFactory("run1")
    batch = factory.batch(ModelName.anisora, "burst", 30, Priority.background)
    assert len({r.task_id for r in batch}) == 30
    assert all(r.steps == 8 and r.priority is Priority.background for r in batch)


def test_unchanged_families() -> None:
    before = (
        "# HELP framegate_x_total x\n# TYPE framegate_x_total counter\nframegate_x_total 1.0\n"
        "# HELP framegate_y y\n# TYPE framegate_y gauge\nframegate_y 3.0\n"
        "# HELP framegate_z z\n# TYPE framegate_z gauge\n"
    )
    after = before.replace("framegate_x_total 1.0", "framegate_x_total 2.0")
    assert unchanged_families([before, after]) == ["framegate_y", "framegate_z"]
    # a gauge that went up and came back down between the first and last observation changed
    up = before.replace("framegate_y 3.0", "framegate_y 4.0")
    assert unchanged_families([before, up, before]) == ["framegate_x", "framegate_z"]
    # a labelled sample that appears is a change
    labelled = before + 'framegate_z{lane="shared"} 0.0\n'
    assert unchanged_families([before, labelled]) == ["framegate_x", "framegate_y"]
    assert unchanged_families(["", after]) == ["framegate_z"]  # declared, never observed


def test_host_settled_follows_heartbeat_load() -> None:
    tally = Tally()
    assert not tally.host_settled()  # no heartbeat yet: unknown is not settled
    for lane in RouteLane:
        tally.apply(factories.heartbeat(lane, host=factories.host(load1=3.5, cpu_cores=2)))
    assert not tally.host_settled()
    for lane in RouteLane:
        tally.apply(factories.heartbeat(lane, host=factories.host(load1=2.9, cpu_cores=2)))
    assert tally.host_settled()
