"""Routing: a model goes to its dedicated lane, or to `shared` while that lane is degraded."""

from __future__ import annotations

from dataclasses import dataclass

from schemas import LaneMode, ModelName, RouteLane
from streams.admission.state import AdmissionState


@dataclass(frozen=True)
class Route:
    lane: RouteLane
    mode: LaneMode
    #: The model's own lane (whose mode decided the route).
    home: RouteLane


def route(state: AdmissionState, model: ModelName) -> Route:
    home = RouteLane(model.value)
    mode = state.lane(home).mode
    if mode is LaneMode.degraded_shared:
        return Route(lane=RouteLane.shared, mode=mode, home=home)
    return Route(lane=home, mode=LaneMode.dedicated, home=home)
