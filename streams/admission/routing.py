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


#: Every route there is, by model: its own lane, and `shared` while that lane is degraded.
_DEDICATED = {m: Route(lane=RouteLane(m.value), mode=LaneMode.dedicated, home=RouteLane(m.value))
              for m in ModelName}
_DEGRADED = {m: Route(lane=RouteLane.shared, mode=LaneMode.degraded_shared, home=RouteLane(m.value))
             for m in ModelName}


def route(state: AdmissionState, model: ModelName) -> Route:
    home = _DEDICATED[model]
    if state.lane(home.lane).mode is LaneMode.degraded_shared:
        return _DEGRADED[model]
    return home
