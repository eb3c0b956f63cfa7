"""What the pipeline boundary refuses: pinned steps/cfg, sides of 16, 4k+1 frames. Never rounds.

Admission checks the same rules, but a work item may have been stepped down after an OOM (or
written by a producer that skipped admission), so the GPU side checks again before inference.
"""

from __future__ import annotations

from schemas.constraints import MODEL_CONSTRAINTS
from schemas.enums import ModelName
from schemas.requests import FRAME_STRIDE, SIDE_MULTIPLE, GenerationRequest


def job_problems(request: GenerationRequest, loaded_model: ModelName | None = None) -> list[str]:
    """Human-readable reasons the pipeline must refuse `request`; empty when it may run."""
    problems: list[str] = []
    if loaded_model is not None and request.model is not loaded_model:
        problems.append(f"job is for {request.model.value} but the loaded model is {loaded_model.value}")
    for side in ("width", "height"):
        value = getattr(request, side)
        if value <= 0 or value % SIDE_MULTIPLE:
            problems.append(f"{side}={value} is not a positive multiple of {SIDE_MULTIPLE}")
    if request.num_frames < 1 or (request.num_frames - 1) % FRAME_STRIDE:
        problems.append(f"num_frames={request.num_frames} is not of the form {FRAME_STRIDE}k+1")
    problems += [msg for _, msg in MODEL_CONSTRAINTS[request.model].violations(request.steps, request.cfg)]
    return problems
