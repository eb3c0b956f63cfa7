"""The demo scenario's requests: who asks for what, in which phase. Pure builders."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import count

from schemas import GenerationRequest, ModelName, Priority, TaskType

#: The identity the demo submits `critical` work under; admission is told to trust it.
DEMO_OPERATOR = "demo-operator"


@dataclass
class RequestFactory:
    """Tiny jobs (32x32, 9 frames) so the demo runs in minutes on 2 CPU cores."""

    run_id: str
    width: int = 32
    height: int = 32
    num_frames: int = 9
    fps: int = 8

    def __post_init__(self) -> None:
        self._serial = count(1)

    def make(
        self,
        model: ModelName,
        phase: str,
        priority: Priority = Priority.standard,
        producer: str | None = None,
    ) -> GenerationRequest:
        return GenerationRequest(
            task_id=f"{self.run_id}-{phase}-{next(self._serial):03d}",
            model=model,
            type=TaskType.text_to_video,
            prompt=f"{model.value} demo clip, {phase}: a paper boat on a rainy street",
            steps=8 if model is ModelName.anisora else 4,
            cfg=1.0,
            width=self.width,
            height=self.height,
            num_frames=self.num_frames,
            fps=self.fps,
            priority=priority,
            producer=producer,
            seed=7,
        )

    def batch(
        self, model: ModelName, phase: str, n: int, priority: Priority = Priority.standard
    ) -> list[GenerationRequest]:
        return [self.make(model, phase, priority) for _ in range(n)]
