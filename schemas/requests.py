"""`GenerationRequest`: what producers publish on `tasks.requested`."""

from typing import Self

from pydantic import AwareDatetime, Field, model_validator

from schemas.constraints import MODEL_CONSTRAINTS
from schemas.enums import EncodingProfile, ModelName, Priority, TaskType
from schemas.envelope import WireModel, utc_now
from schemas.limits import Identity, Prompt, Reference, TaskId

#: Wan's VAE downsamples 8x spatially and the transformer patches 2x: sides must divide by 16.
SIDE_MULTIPLE = 16
#: Wan compresses time 4x around a leading frame: frame counts are 4k+1.
FRAME_STRIDE = 4


class GenerationRequest(WireModel):
    """A video generation request. Steps/cfg must match the model's pinned constraints."""

    task_id: TaskId
    model: ModelName
    type: TaskType = TaskType.image_to_video
    prompt: Prompt
    negative_prompt: Prompt | None = None
    input_image: Reference | None = Field(
        default=None, description="URI or path of the conditioning image (image_to_video)."
    )
    steps: int = Field(ge=1, le=100, strict=True)
    cfg: float | None = Field(default=None, ge=0.0, le=20.0, strict=True)
    width: int = Field(ge=16, le=1920, strict=True, description="Pixels; a multiple of 16.")
    height: int = Field(ge=16, le=1920, strict=True, description="Pixels; a multiple of 16.")
    num_frames: int = Field(
        ge=1, le=241, strict=True, description="Of the form 4k+1 (1, 5, 9, ..., 81, ...)."
    )
    fps: int = Field(ge=1, le=60, strict=True)
    priority: Priority = Priority.standard
    encoding_profile: EncodingProfile = EncodingProfile.h264_high
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1, strict=True)
    producer: Identity | None = Field(
        default=None, description="Producer identity; `critical` needs an authorised one."
    )
    submitted_at: AwareDatetime = Field(default_factory=utc_now)

    @model_validator(mode="after")
    def _shape_and_model_constraints(self) -> Self:
        problems: list[str] = []
        for side in ("width", "height"):
            if getattr(self, side) % SIDE_MULTIPLE:
                problems.append(f"{side} must be a multiple of {SIDE_MULTIPLE}")
        if (self.num_frames - 1) % FRAME_STRIDE:
            problems.append(f"num_frames must be of the form {FRAME_STRIDE}k+1")
        if self.type is TaskType.image_to_video and self.input_image is None:
            problems.append("input_image is required for image_to_video")
        problems += [
            msg for _, msg in MODEL_CONSTRAINTS[self.model].violations(self.steps, self.cfg)
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self
