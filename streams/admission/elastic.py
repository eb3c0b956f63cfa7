"""Elastic step-downs for standard/background work in degraded mode (contract section 3).

Resolution: a short side above 480 goes to 480 (720p -> 480p; 1280x720 -> 832x480, the long side
floored to a multiple of 32 so both stay multiples of 16). Frame rate above 24 fps halves, and
the frame count halves with it (kept 4k+1) so the clip lasts as long for half the GPU work.
Encoding H.264 high -> main.
"""

from __future__ import annotations

from schemas import Degradation, EncodingProfile, GenerationRequest

TARGET_SHORT_SIDE = 480
FPS_HALVING_ABOVE = 24


def step_down(request: GenerationRequest) -> tuple[GenerationRequest, list[Degradation]]:
    changes: dict[str, object] = {}
    steps: list[Degradation] = []
    w, h = request.width, request.height
    short, long_ = min(w, h), max(w, h)
    if short > TARGET_SHORT_SIDE:
        new_long = max(TARGET_SHORT_SIDE, (long_ * TARGET_SHORT_SIDE // short) // 32 * 32)
        nw, nh = (new_long, TARGET_SHORT_SIDE) if w >= h else (TARGET_SHORT_SIDE, new_long)
        changes.update(width=nw, height=nh)
        steps.append(Degradation(parameter="resolution", requested=f"{w}x{h}", granted=f"{nw}x{nh}"))
    if request.fps > FPS_HALVING_ABOVE:
        fps = request.fps // 2
        frames = 4 * ((request.num_frames - 1) // 8) + 1
        changes.update(fps=fps, num_frames=frames)
        steps.append(Degradation(
            parameter="fps",
            requested=f"{request.fps}fps x {request.num_frames} frames",
            granted=f"{fps}fps x {frames} frames",
        ))
    if request.encoding_profile is EncodingProfile.h264_high:
        changes["encoding_profile"] = EncodingProfile.h264_main
        steps.append(Degradation(parameter="encoding_profile", requested="h264_high", granted="h264_main"))
    if not changes:
        return request, steps
    # Re-validate: a step-down must still satisfy the request contract.
    stepped = GenerationRequest.model_validate({**request.model_dump(), **changes})
    return stepped, steps
