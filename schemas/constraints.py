"""`VideoGenerationConstraints`: immutable per-model request constraints, checked pre-inference."""

from types import MappingProxyType
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.enums import ModelName

#: The only values the seed allows for each model; anything else is a validation error.
_PINNED: dict[ModelName, tuple[int, float | None]] = {
    ModelName.anisora: (8, None),
    ModelName.phr00t: (4, 1.0),
}


class VideoGenerationConstraints(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: ModelName
    fixed_steps: int = Field(gt=0, strict=True)
    fixed_cfg: float | None = Field(default=None, strict=True)

    @model_validator(mode="after")
    def _seed_values(self) -> Self:
        steps, cfg = _PINNED[self.model]
        if self.fixed_steps != steps:
            raise ValueError(f"{self.model.value}: fixed_steps must be {steps}")
        if cfg is not None and self.fixed_cfg != cfg:
            raise ValueError(f"{self.model.value}: fixed_cfg must be {cfg}")
        return self

    def violations(self, steps: int, cfg: float | None) -> list[tuple[str, str]]:
        """(field, message) pairs for a request's steps/cfg; empty when they comply.

        cfg compares exactly, as the exported JSON Schema's `enum` does: a producer that
        validates against the schema is never refused here.
        """
        found: list[tuple[str, str]] = []
        if steps != self.fixed_steps:
            found.append(
                ("steps", f"{self.model.value} requires steps={self.fixed_steps}, got {steps}")
            )
        if self.fixed_cfg is not None and cfg is not None and cfg != self.fixed_cfg:
            found.append(("cfg", f"{self.model.value} requires cfg={self.fixed_cfg}, got {cfg}"))
        return found

    def effective_cfg(self, cfg: float | None) -> float:
        """The guidance the pipeline runs with: pinned, requested, or the distilled default 1.0."""
        if self.fixed_cfg is not None:
            return self.fixed_cfg
        return 1.0 if cfg is None else cfg


MODEL_CONSTRAINTS: MappingProxyType[ModelName, VideoGenerationConstraints] = MappingProxyType(
    {
        ModelName.anisora: VideoGenerationConstraints(model=ModelName.anisora, fixed_steps=8),
        ModelName.phr00t: VideoGenerationConstraints(
            model=ModelName.phr00t, fixed_steps=4, fixed_cfg=1.0
        ),
    }
)
