"""`GenerationRequest`: what producers publish on `tasks.requested`.

Every rule a producer can check is declared once here and reaches both the validator and the
exported JSON Schema: sides carry `multiple_of`, frame counts an `enum`, and the cross-field
rules (per-model steps/cfg, `image_to_video` needs `input_image`) are field validators whose
errors name their field, mirrored in the schema as `if`/`then` built from the same constants.
"""

from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError, PydanticKnownError

from schemas.constraints import MODEL_CONSTRAINTS
from schemas.enums import EncodingProfile, ModelName, Priority, TaskType
from schemas.envelope import WireModel, utc_now
from schemas.limits import Identity, Prompt, Reference, TaskId

#: Wan's VAE downsamples 8x spatially and the transformer patches 2x: sides must divide by 16.
SIDE_MULTIPLE = 16
MIN_SIDE = 16
MAX_SIDE = 1920
#: Wan compresses time 4x around a leading frame: frame counts are 4k+1.
FRAME_STRIDE = 4
MAX_FRAMES = 241
#: Every frame count a request may ask for: the 4k+1 rule as a closed list (JSON Schema `enum`).
FRAME_COUNTS: tuple[int, ...] = tuple(range(1, MAX_FRAMES + 1, FRAME_STRIDE))
_FRAME_COUNT_SET = frozenset(FRAME_COUNTS)


def _per_model_rules() -> list[dict[str, Any]]:
    """`if model == M then steps/cfg pinned` for every model, from `MODEL_CONSTRAINTS`."""
    rules: list[dict[str, Any]] = []
    for model, constraint in MODEL_CONSTRAINTS.items():
        pinned: dict[str, Any] = {"steps": {"const": constraint.fixed_steps}}
        if constraint.fixed_cfg is not None:
            pinned["cfg"] = {"enum": [constraint.fixed_cfg, None]}
        rules.append(
            {
                "if": {"properties": {"model": {"const": model.value}}, "required": ["model"]},
                "then": {"properties": pinned},
            }
        )
    return rules


def _cross_field_schema(schema: dict[str, Any]) -> None:
    # `type` defaults to image_to_video, so an absent `type` must trigger the rule as well:
    # `properties` alone (without `required`) matches an object that lacks the key.
    needs_image = {
        "if": {"properties": {"type": {"const": TaskType.image_to_video.value}}},
        "then": {
            "required": ["input_image"],
            "properties": {"input_image": {"type": "string"}},
        },
    }
    schema["allOf"] = [*_per_model_rules(), needs_image]


def _integral(value: Any) -> Any:
    """A JSON number with a zero fraction (`1216.0`, `1.216e3`, `-0.0`) is an integer to JSON
    Schema, so it is one here too; a fraction is refused with pydantic's own precise error.

    Runs before the field's strict `int` check, which still refuses strings and booleans (not
    integers to JSON Schema either).
    """
    if isinstance(value, float):
        if not value.is_integer():
            raise PydanticKnownError("int_from_float")
        return int(value)
    return value


#: An integer field of the wire contract: what JSON Schema `integer` admits, nothing else.
WireInt = Annotated[int, BeforeValidator(_integral)]


class GenerationRequest(WireModel):
    """A video generation request. Steps/cfg must match the model's pinned constraints."""

    model_config = WireModel.model_config | {"json_schema_extra": _cross_field_schema}

    task_id: TaskId
    model: ModelName
    type: TaskType = TaskType.image_to_video
    prompt: Prompt
    negative_prompt: Prompt | None = None
    input_image: Reference | None = Field(
        default=None,
        validate_default=True,
        description="URI or path of the conditioning image; required for image_to_video.",
    )
    steps: WireInt = Field(ge=1, le=100, strict=True, description="Pinned per model (see allOf).")
    cfg: float | None = Field(
        default=None, ge=0.0, le=20.0, strict=True, description="Pinned per model (see allOf)."
    )
    width: WireInt = Field(
        ge=MIN_SIDE, le=MAX_SIDE, multiple_of=SIDE_MULTIPLE, strict=True, description="Pixels."
    )
    height: WireInt = Field(
        ge=MIN_SIDE, le=MAX_SIDE, multiple_of=SIDE_MULTIPLE, strict=True, description="Pixels."
    )
    num_frames: WireInt = Field(
        ge=1,
        le=MAX_FRAMES,
        strict=True,
        description=f"Of the form {FRAME_STRIDE}k+1 (1, 5, 9, ..., 81, ...).",
        json_schema_extra={"enum": list(FRAME_COUNTS)},
    )
    fps: WireInt = Field(ge=1, le=60, strict=True)
    priority: Priority = Priority.standard
    encoding_profile: EncodingProfile = EncodingProfile.h264_high
    seed: Annotated[int, Field(ge=0, le=2**32 - 1, strict=True), BeforeValidator(_integral)] | None = None
    producer: Identity | None = Field(
        default=None, description="Producer identity; `critical` needs an authorised one."
    )
    submitted_at: AwareDatetime = Field(default_factory=utc_now)

    # Field validators run in declaration order and see the fields validated before them in
    # `info.data`: `model` precedes `steps`/`cfg` and `type` precedes `input_image`, so each
    # cross-field error is reported at its own field. A missing predecessor (itself an error)
    # skips the check rather than guessing.

    @field_validator("input_image")
    @classmethod
    def _image_for_image_to_video(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("type") is TaskType.image_to_video:
            raise PydanticCustomError(
                "input_image_required", "input_image is required for image_to_video"
            )
        return value

    @field_validator("steps")
    @classmethod
    def _model_steps(cls, value: int, info: ValidationInfo) -> int:
        model = info.data.get("model")
        if model is not None and value != MODEL_CONSTRAINTS[model].fixed_steps:
            raise PydanticCustomError(
                "model_constraint",
                "{model} requires steps={pinned}, got {got}",
                {"model": model.value, "pinned": MODEL_CONSTRAINTS[model].fixed_steps, "got": value},
            )
        return value

    @field_validator("cfg")
    @classmethod
    def _model_cfg(cls, value: float | None, info: ValidationInfo) -> float | None:
        model = info.data.get("model")
        if model is not None and value is not None:
            pinned = MODEL_CONSTRAINTS[model].fixed_cfg
            if pinned is not None and value != pinned:
                raise PydanticCustomError(
                    "model_constraint",
                    "{model} requires cfg={pinned}, got {got}",
                    {"model": model.value, "pinned": pinned, "got": value},
                )
        return value

    @field_validator("submitted_at", mode="before")
    @classmethod
    def _no_bare_timestamps(cls, value: Any) -> Any:
        # The schema says RFC 3339 string; a bare number would otherwise be read as Unix time.
        if isinstance(value, int | float):
            raise PydanticCustomError(
                "datetime_type", "submitted_at must be an RFC 3339 date-time string"
            )
        return value

    @field_validator("num_frames")
    @classmethod
    def _frame_count(cls, value: int) -> int:
        if value not in _FRAME_COUNT_SET:
            raise PydanticCustomError(
                "frame_count",
                "num_frames must be of the form {stride}k+1, got {got}",
                {"stride": FRAME_STRIDE, "got": value},
            )
        return value
