"""Wan image-to-video through diffusers' `WanImageToVideoPipeline`, for both models.

`anisora` is Wan 2.1 I2V (CLIP image encoder); `phr00t` is one merged Wan 2.2 transformer with
`image_dim=None` and no `transformer_2`: the same pipeline class skips the image encoder when the
transformer has no image projection. Both load with `from_pretrained` from a local directory.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpu_consumers.errors import InvalidJob, JobAbandoned, ModelLoadFailed
from gpu_consumers.fault_injection import OomFaultInjector
from gpu_consumers.job_checks import job_problems
from schemas.constraints import MODEL_CONSTRAINTS
from schemas.enums import ModelName, TaskType
from schemas.requests import GenerationRequest

if TYPE_CHECKING:
    import numpy as np


@dataclass
class LoadedPipeline:
    model: ModelName
    pipe: Any
    device: str
    load_seconds: float


def import_stack() -> None:
    """Import torch + diffusers + the Wan pipeline now (seconds), not inside the first job."""
    import diffusers.pipelines.wan.pipeline_wan_i2v  # noqa: F401
    import transformers  # noqa: F401


def resolve_device(setting: str) -> str:
    if setting != "auto":
        return setting
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_pipeline(model: ModelName, directory: Path, device: str) -> LoadedPipeline:
    """Load a diffusers directory; any failure becomes `ModelLoadFailed` with the cause."""
    started = time.perf_counter()
    try:
        import torch
        from diffusers import WanImageToVideoPipeline

        if not (directory / "model_index.json").is_file():
            raise FileNotFoundError(f"{directory} is not a diffusers model directory (no model_index.json)")
        # bf16 is what Wan ships for GPUs; CPU runs stay float32 (bf16 matmuls are slow there).
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
        pipe = WanImageToVideoPipeline.from_pretrained(
            str(directory), torch_dtype=dtype, local_files_only=True
        )
        if pipe.transformer.config.image_dim is None and pipe.image_encoder is not None:
            raise ValueError(f"{model.value}: image encoder present but the transformer takes no image embeds")
        pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
    except Exception as exc:
        raise ModelLoadFailed(f"loading {model.value} from {directory}: {type(exc).__name__}: {exc}") from exc
    return LoadedPipeline(model=model, pipe=pipe, device=device, load_seconds=time.perf_counter() - started)


@dataclass(frozen=True)
class RunOptions:
    max_sequence_length: int = 512
    step_delay_s: float = 0.0


def run_pipeline(
    loaded: LoadedPipeline,
    task_id: str,
    request: GenerationRequest,
    options: RunOptions,
    faults: OomFaultInjector | None = None,
    abandon: threading.Event | None = None,
) -> np.ndarray:
    """Frames as uint8 `(num_frames, height, width, 3)`. Raises InvalidJob, OOM, or pipeline errors."""
    import numpy as np
    import torch

    # 1. Check inputs: pinned steps/cfg, sides of 16, 4k+1 frames, right model. Refuse, never round.
    problems = job_problems(request, loaded.model)
    if problems:
        raise InvalidJob("; ".join(problems))

    # 2. Prepare: conditioning image, seed, the pinned guidance.
    image = _conditioning_image(request)
    generator = torch.Generator(device="cpu")
    generator.manual_seed(request.seed if request.seed is not None else 0)
    guidance = MODEL_CONSTRAINTS[request.model].effective_cfg(request.cfg)
    callback = _step_end(options.step_delay_s, abandon)

    # 3. Run: the one place a CUDA OOM surfaces (and where the fault injector raises one).
    if faults is not None:
        faults.before_run(task_id)
    with torch.inference_mode():
        output = loaded.pipe(
            image=image,
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            height=request.height,
            width=request.width,
            num_frames=request.num_frames,
            num_inference_steps=request.steps,
            guidance_scale=guidance,
            generator=generator,
            output_type="np",
            max_sequence_length=options.max_sequence_length,
            callback_on_step_end=callback,
        )

    # 4. Decode: float frames in [0, 1] -> uint8 for the encoder; check we got what was asked.
    frames = np.asarray(output.frames[0])
    del output
    expected = (request.num_frames, request.height, request.width, 3)
    if frames.shape != expected:
        raise RuntimeError(f"pipeline returned frames of shape {frames.shape}, expected {expected}")
    return (np.clip(frames, 0.0, 1.0) * 255).round().astype(np.uint8)


def _conditioning_image(request: GenerationRequest) -> Any:
    from PIL import Image

    if request.type is TaskType.text_to_video or request.input_image is None:
        # Both models are I2V: a text-only request starts from a neutral grey frame.
        return Image.new("RGB", (request.width, request.height), (127, 127, 127))
    ref = request.input_image
    path = Path(ref.removeprefix("file://"))
    if "://" in ref and not ref.startswith("file://"):
        raise InvalidJob(f"input_image {ref!r}: only local paths and file:// URIs are supported")
    try:
        with Image.open(path) as img:
            return img.convert("RGB").resize((request.width, request.height))
    except (OSError, ValueError) as exc:
        raise InvalidJob(f"input_image {ref!r} is not a readable image: {exc}") from exc


def _step_end(delay_s: float, abandon: threading.Event | None) -> Any:
    """After each denoising step: stop here if the worker abandoned the job (shutdown past its
    grace: a step is the smallest unit a job can be cut at), then the test/demo slow-step seam."""
    if delay_s <= 0 and abandon is None:
        return None

    def callback(pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        if abandon is not None and abandon.is_set():
            raise JobAbandoned(f"abandoned after step {step + 1}")
        if delay_s > 0:
            time.sleep(delay_s)
        return kwargs

    return callback
