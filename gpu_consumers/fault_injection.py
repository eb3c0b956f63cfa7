"""Settings-driven faults at the pipeline boundary, so tests and drills exercise the real worker.

Off unless `FRAMEGATE_LANE_FAULT_OOM_TASK_PREFIX` is set: then the first
`lane_fault_oom_attempts` runs of every task whose id starts with the prefix raise
`torch.OutOfMemoryError` exactly where a real CUDA OOM would surface.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class OomFaultInjector:
    task_prefix: str | None = None
    attempts: int = 1
    _raised: dict[str, int] = field(default_factory=dict)

    def before_run(self, task_id: str) -> None:
        if not self.task_prefix or not task_id.startswith(self.task_prefix):
            return
        count = self._raised.get(task_id, 0)
        if count >= self.attempts:
            return
        self._raised[task_id] = count + 1
        import torch

        raise torch.OutOfMemoryError(
            f"CUDA out of memory. Tried to allocate 20.00 GiB (injected fault {count + 1}/{self.attempts})"
        )
