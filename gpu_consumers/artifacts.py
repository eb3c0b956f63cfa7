"""mp4 (H.264, yuv420p) through imageio-ffmpeg's bundled ffmpeg; the write latency is measured."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from schemas.enums import EncodingProfile

if TYPE_CHECKING:
    import numpy as np

_PROFILE = {EncodingProfile.h264_high: "high", EncodingProfile.h264_main: "main"}


@dataclass(frozen=True)
class WrittenArtifact:
    path: Path
    write_ms: float
    size_bytes: int


def artifact_path(artifact_dir: Path, lane: str, task_id: str) -> Path:
    return artifact_dir.expanduser().resolve() / lane / f"{task_id}.mp4"


def write_mp4(frames: np.ndarray, path: Path, fps: int, profile: EncodingProfile) -> WrittenArtifact:
    """Encode to a temp name, fsync, then rename: a reader never sees half a file.

    The measured latency covers encode + fsync + rename: what the disk makes a worker wait.
    """
    import imageio_ffmpeg

    started = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.mp4")
    _, height, width, _ = frames.shape
    writer = imageio_ffmpeg.write_frames(
        str(tmp),
        (width, height),
        fps=fps,
        codec="libx264",
        pix_fmt_out="yuv420p",
        macro_block_size=16,
        output_params=["-profile:v", _PROFILE[profile]],
        ffmpeg_log_level="error",
    )
    writer.send(None)
    try:
        for frame in frames:
            writer.send(frame.tobytes())
    finally:
        writer.close()
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return WrittenArtifact(path=path, write_ms=(time.perf_counter() - started) * 1000, size_bytes=path.stat().st_size)
