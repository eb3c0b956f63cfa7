"""Routing: a model goes to its dedicated lane, or to `shared` while that lane is degraded."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.enums import LaneMode, ModelName, RouteLane


@dataclass(frozen=True, slots=True)
class Route:
    lane: RouteLane
    mode: LaneMode
    #: The model's own lane (whose mode decided the route).
    home: RouteLane


#: Every route there is, by model: its own lane, and `shared` while that lane is degraded.
DEDICATED = {m: Route(lane=RouteLane(m.value), mode=LaneMode.dedicated, home=RouteLane(m.value))
             for m in ModelName}
DEGRADED = {m: Route(lane=RouteLane.shared, mode=LaneMode.degraded_shared, home=RouteLane(m.value))
            for m in ModelName}
