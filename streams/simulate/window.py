"""The time window of history to simulate: `--since`/`--until` (ISO 8601, UTC if naive) or `--hours`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from streams.simulate.errors import SimulateError

#: Heartbeats this long before the window are folded first, so the lanes start live.
WARMUP_S = 60.0


@dataclass(frozen=True)
class Window:
    start: datetime | None = None
    end: datetime | None = None

    def contains(self, at: datetime) -> bool:
        return (self.start is None or at >= self.start) and (self.end is None or at < self.end)


def _instant(text: str, flag: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise SimulateError(f"{flag} {text!r} is not an ISO 8601 time (e.g. 2026-11-29T14:00:00Z)") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def parse_window(since: str | None, until: str | None, hours: float | None,
                 now: datetime | None = None) -> Window:
    if hours is not None and since is not None:
        raise SimulateError("give either --since or --hours, not both")
    if hours is not None and hours <= 0:
        raise SimulateError(f"--hours must be positive, got {hours:g}")
    end = _instant(until, "--until") if until else None
    start = _instant(since, "--since") if since else None
    if hours is not None:
        start = (end or now or datetime.now(UTC)) - timedelta(hours=hours)
    if start is not None and end is not None and end <= start:
        raise SimulateError(f"empty window: --until {end.isoformat()} is not after {start.isoformat()}")
    return Window(start, end)
