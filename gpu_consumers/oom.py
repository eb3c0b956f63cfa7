"""CUDA out-of-memory: recognising it, and the one elastic step down a retry may take.

Policy (pure): `critical` is never degraded, so a critical job that hits OOM fails with
`gpu_oom` (running it again unchanged would most likely OOM again and hold the GPU twice as
long). `standard` and `background` get exactly one retry one step lower: resolution first
(each side x2/3, kept a multiple of 16), and once at the 16-pixel floor, fewer frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from schemas.enums import Priority
from schemas.requests import FRAME_STRIDE, SIDE_MULTIPLE, GenerationRequest

#: One retry, never a loop: a job that OOMs twice fails.
MAX_OOM_RETRIES = 1


class ElasticParameter(StrEnum):
    """What an OOM retry gives up (a worker's step, not one of admission's degradations)."""

    resolution = "resolution"
    num_frames = "num_frames"


@dataclass(frozen=True)
class RetryStep:
    parameter: ElasticParameter
    requested: str
    granted: str


def is_oom(exc: BaseException) -> bool:
    """torch.OutOfMemoryError (alias torch.cuda.OutOfMemoryError), or an allocator RuntimeError
    whose message says so (older drivers and custom allocators raise a plain RuntimeError)."""
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _smaller_side(side: int) -> int:
    return max(SIDE_MULTIPLE, (side * 2 // 3) // SIDE_MULTIPLE * SIDE_MULTIPLE)


def step_down(request: GenerationRequest) -> tuple[GenerationRequest, RetryStep] | None:
    """The request one elastic step lower, or None when nothing can give (or priority forbids)."""
    if request.priority is Priority.critical:
        return None
    width, height = _smaller_side(request.width), _smaller_side(request.height)
    if (width, height) != (request.width, request.height):
        change = RetryStep(
            parameter=ElasticParameter.resolution,
            requested=f"{request.width}x{request.height}",
            granted=f"{width}x{height}",
        )
        return _revalidated(request, width=width, height=height), change
    k = (request.num_frames - 1) // FRAME_STRIDE
    if k == 0:
        return None
    frames = (k // 2) * FRAME_STRIDE + 1
    change = RetryStep(ElasticParameter.num_frames, requested=str(request.num_frames), granted=str(frames))
    return _revalidated(request, num_frames=frames), change


def retry_plan(request: GenerationRequest, retries_done: int) -> tuple[GenerationRequest, RetryStep] | None:
    if retries_done >= MAX_OOM_RETRIES:
        return None
    return step_down(request)


def _revalidated(request: GenerationRequest, **update: int) -> GenerationRequest:
    return GenerationRequest.model_validate({**request.model_dump(), **update})
