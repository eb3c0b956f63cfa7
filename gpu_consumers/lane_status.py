"""What a worker knows about itself, read by heartbeats; written by the job thread under a lock."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

from schemas.enums import Availability, ModelName


@dataclass(frozen=True)
class LaneStatusView:
    availability: Availability
    warm: bool
    served_model: ModelName | None
    consecutive_load_failures: int
    last_load_error: str | None
    artifact_write_ms: float | None
    sessions_in_use: int


@dataclass
class LaneStatus:
    max_load_failures: int
    _view: LaneStatusView = field(
        default_factory=lambda: LaneStatusView(Availability.cold, False, None, 0, None, None, 0)
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def view(self) -> LaneStatusView:
        with self._lock:
            return self._view

    def _update(self, **changes: object) -> None:
        with self._lock:
            self._view = replace(self._view, **changes)  # type: ignore[arg-type]

    def loading(self) -> None:
        self._update(availability=Availability.cold, warm=False, served_model=None)

    def loaded(self, model: ModelName) -> None:
        self._update(
            availability=Availability.ready,
            warm=True,
            served_model=model,
            consecutive_load_failures=0,
            last_load_error=None,
        )

    def unloaded(self) -> None:
        self._update(warm=False, served_model=None)

    def load_failed(self, error: str) -> None:
        with self._lock:
            failures = self._view.consecutive_load_failures + 1
            availability = (
                Availability.unavailable if failures >= self.max_load_failures else Availability.cold
            )
            self._view = replace(
                self._view,
                availability=availability,
                warm=False,
                served_model=None,
                consecutive_load_failures=failures,
                last_load_error=error,
            )

    def job_started(self) -> None:
        self._update(sessions_in_use=1)

    def job_finished(self, artifact_write_ms: float | None) -> None:
        with self._lock:
            self._view = replace(
                self._view,
                sessions_in_use=0,
                artifact_write_ms=artifact_write_ms if artifact_write_ms is not None else self._view.artifact_write_ms,
            )

    def artifact_written(self, write_ms: float) -> None:
        self._update(artifact_write_ms=write_ms)
