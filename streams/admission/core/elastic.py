"""Elastic step-downs for standard/background work in degraded mode (contract section 3).

Resolution: a short side above 480 goes to 480 (720p -> 480p; 1280x720 -> 832x480, the long side
floored to a multiple of 32 so both stay multiples of 16). Frame rate above 24 fps halves, and
the frame count halves with it (kept 4k+1) so the clip lasts as long for half the GPU work.
Encoding H.264 high -> main.
"""

from __future__ import annotations

import functools

from schemas.enums import EncodingProfile
from streams.admission.core.facts import RequestFacts
from streams.admission.core.verdict import Granted, Step

TARGET_SHORT_SIDE = 480
FPS_HALVING_ABOVE = 24


def step_down(facts: RequestFacts) -> tuple[Granted | None, tuple[Step, ...]]:
    """The shape admitted in degraded mode and the steps taken (None: nothing to step down)."""
    return stepped_shape(facts.width, facts.height, facts.fps, facts.num_frames, facts.encoding_profile)


# Requests come in few shapes, and a degraded lane steps down every one of them: the answer (a
# pure function of the shape, made of frozen values) is kept for the shapes seen most recently.
@functools.lru_cache(maxsize=1024)
def stepped_shape(w: int, h: int, fps: int, frames: int, profile: EncodingProfile,
                  ) -> tuple[Granted | None, tuple[Step, ...]]:
    steps: list[Step] = []
    short, long_ = min(w, h), max(w, h)
    nw, nh = w, h
    if short > TARGET_SHORT_SIDE:
        new_long = max(TARGET_SHORT_SIDE, (long_ * TARGET_SHORT_SIDE // short) // 32 * 32)
        nw, nh = (new_long, TARGET_SHORT_SIDE) if w >= h else (TARGET_SHORT_SIDE, new_long)
        steps.append(Step("resolution", f"{w}x{h}", f"{nw}x{nh}"))
    nfps, nframes = fps, frames
    if fps > FPS_HALVING_ABOVE:
        nfps = fps // 2
        nframes = 4 * ((frames - 1) // 8) + 1
        steps.append(Step("fps", f"{fps}fps x {frames} frames", f"{nfps}fps x {nframes} frames"))
    nprofile = profile
    if profile is EncodingProfile.h264_high:
        nprofile = EncodingProfile.h264_main
        steps.append(Step("encoding_profile", "h264_high", "h264_main"))
    if not steps:
        return None, ()
    return Granted(nw, nh, nfps, nframes, nprofile), tuple(steps)
