"""Scenarios: how the lanes are set up in a what-if run, from a TOML file or command-line flags.

```toml
name = "two shared workers"
arrival_scale = 1.0        # x k arrivals (seeded thinning / duplication), 1 = as recorded
elastic = true             # step-down of standard/background work in degraded mode
seed = 7                   # sampling of service times and of scaled arrivals

[workers]                  # workers per lane for the whole window; a lane left out: as recorded
shared = 2

[[gpus]]                   # more (+) or fewer (-) workers during part of the window
lane = "shared"
delta = 1
from_s = 60                # seconds after the window start
until_s = 180

[[lane_modes]]             # replaces the recorded degrade/restore of that lane
lane = "anisora"
mode = "degraded_shared"   # or "dedicated"
at_s = 30
reason = "capacity"        # capacity | quota | manual (degraded_shared only)
```
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas import FallbackReason, LaneMode, RouteLane
from streams.simulate.errors import SimulateError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GpuChange(_Strict):
    lane: RouteLane
    delta: int
    from_s: float = Field(ge=0)
    until_s: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> GpuChange:
        if self.until_s <= self.from_s:
            raise ValueError("until_s must be after from_s")
        return self


class ModeChange(_Strict):
    lane: RouteLane
    mode: LaneMode
    at_s: float = Field(ge=0)
    reason: FallbackReason | None = None

    @model_validator(mode="after")
    def _reason(self) -> ModeChange:
        if self.lane is RouteLane.shared:
            raise ValueError("the shared lane has no mode of its own")
        if self.mode is LaneMode.degraded_shared and self.reason is None:
            raise ValueError("a degraded_shared change needs a reason")
        return self


class Scenario(_Strict):
    name: str = "scenario"
    workers: dict[RouteLane, int] = Field(default_factory=dict)
    gpus: tuple[GpuChange, ...] = ()
    lane_modes: tuple[ModeChange, ...] = ()
    elastic: bool = True
    arrival_scale: float = Field(default=1.0, ge=0.0, le=1000.0)
    seed: int = 0

    @model_validator(mode="after")
    def _non_negative(self) -> Scenario:
        for lane, n in self.workers.items():
            if n < 0:
                raise ValueError(f"workers.{lane.value} must be >= 0")
        return self

    def overridden(self, lane: RouteLane) -> bool:
        return lane in self.workers or any(g.lane is lane for g in self.gpus)

    def workers_at(self, lane: RouteLane, base: int, offset_s: float) -> int:
        n = self.workers.get(lane, base)
        for g in self.gpus:
            if g.lane is lane and g.from_s <= offset_s < g.until_s:
                n += g.delta
        return max(0, n)

    def with_workers(self, lane: RouteLane, n: int, name: str | None = None) -> Scenario:
        return self.model_copy(update={"workers": {**self.workers, lane: n}, "name": name or self.name})


RECORDED = Scenario(name="recorded set-up")


def _one_line(source: str, exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in err["loc"]) or "(scenario)"
    if err["type"] == "extra_forbidden":
        return f"{source}: unknown key {where!r} (known: {', '.join(sorted(Scenario.model_fields))}; "\
               "see docs/simulate.md)"
    return f"{source}: {where}: {err['msg']}"


def from_mapping(data: dict[str, Any], source: str) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise SimulateError(_one_line(source, exc)) from None


def load_scenario(path: Path) -> Scenario:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SimulateError(f"scenario file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SimulateError(f"scenario file {path} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SimulateError(f"scenario file {path} is not valid TOML: {exc}") from None
    data.setdefault("name", path.stem)
    return from_mapping(data, str(path))


def _pairs(values: Sequence[str], flag: str) -> list[tuple[str, str]]:
    out = []
    for value in values:
        key, sep, rest = value.partition("=" if flag == "--workers" else "@")
        if not sep or not key or not rest:
            example = "shared=2" if flag == "--workers" else "anisora@30"
            raise SimulateError(f"{flag} {value!r}: expected the form {example}")
        out.append((key, rest))
    return out


def from_flags(workers: Sequence[str], degrade: Sequence[str], restore: Sequence[str],
               elastic: bool, arrival_scale: float, seed: int) -> Scenario:
    data: dict[str, Any] = {"name": "flags", "elastic": elastic, "arrival_scale": arrival_scale, "seed": seed}
    try:
        data["workers"] = {lane: int(n) for lane, n in _pairs(workers, "--workers")}
        modes = [{"lane": lane, "mode": "degraded_shared", "at_s": float(at), "reason": "capacity"}
                 for lane, at in _pairs(degrade, "--degrade")]
        modes += [{"lane": lane, "mode": "dedicated", "at_s": float(at)} for lane, at in _pairs(restore, "--restore")]
    except ValueError as exc:
        raise SimulateError(f"scenario flags: {exc}") from None
    data["lane_modes"] = modes
    return from_mapping(data, "scenario flags")
