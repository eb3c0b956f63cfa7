"""Admission states with healthy lanes, for unit tests of the pure decision and for integration
tests that compare the live agent with it."""

from __future__ import annotations

from typing import Any

from schemas import RouteLane
from streams.admission.state import AdmissionConfig, AdmissionState, fold_lane_event
from tests.factories import T0, degrade, heartbeat


def state(degraded: bool = False, config: AdmissionConfig | None = None, **host: Any) -> AdmissionState:
    """Every lane has one fresh, healthy worker at `T0` (`host` sets its pressure); `degraded`
    routes anisora to shared."""
    s = AdmissionState(config=config or AdmissionConfig(critical_producers=frozenset({"ops"})))
    for lane in RouteLane:
        fold_lane_event(s, heartbeat(lane, T0, **host))
    if degraded:
        fold_lane_event(s, degrade(RouteLane.anisora, when=T0))
    return s
