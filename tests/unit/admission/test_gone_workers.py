"""Workers silent for the retention are forgotten exactly when a scan on every heartbeat would
forget them, although the fold scans only once the horizon passes the oldest heartbeat it knows."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import RouteLane
from streams.admission.state import AdmissionConfig, AdmissionState, fold_lane_event
from tests.factories import T0, heartbeat

beats = st.lists(st.tuples(st.sampled_from(["w1", "w2", "w3", "w4"]),
                           st.sampled_from([0.0, 1.0, 5.0, 10.0, 10.5, 20.0, -3.0])),
                 min_size=1, max_size=50)


@settings(max_examples=200, deadline=None)
@given(beats)
def test_gone_workers_are_forgotten_as_by_a_scan_on_every_heartbeat(script: list[tuple[str, float]]) -> None:
    config = AdmissionConfig(dedup_retention_s=10.0)
    lazy, eager = AdmissionState(config=config), AdmissionState(config=config)
    clock = 0.0
    for worker, move in script:
        clock = max(0.0, clock + move)
        event = heartbeat(RouteLane.anisora, T0 + timedelta(seconds=clock), worker)
        eager.lane(RouteLane.anisora).oldest_seen = None  # unknown: the fold scans every worker
        fold_lane_event(eager, event)
        fold_lane_event(lazy, event)
        assert lazy.lane(RouteLane.anisora).workers == eager.lane(RouteLane.anisora).workers
