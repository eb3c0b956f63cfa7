"""The root of every error framegate raises on purpose, and the contract package's own errors.

Each package keeps its errors in one module (`streams/<pkg>/errors.py`, `gpu_consumers/errors.py`)
under `FramegateError`, so a caller can catch "anything framegate refused" in one clause while
bugs (plain `Exception`s) still surface.
"""

from __future__ import annotations

from schemas.limits import MAX_PAYLOAD_BYTES


class FramegateError(Exception):
    """Base of every deliberate framegate error."""


class PayloadTooLarge(FramegateError, ValueError):
    """A wire payload over `MAX_PAYLOAD_BYTES`, refused before parsing."""

    def __init__(self, size: int) -> None:
        super().__init__(f"payload of {size} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit")
        self.size = size


class IllegalLaneTransition(FramegateError, ValueError):
    """A lane change the seed's transitions refuse (`AVAILABILITY_TRANSITIONS`, `MODE_TRANSITIONS`,
    `fallback_reason` with `degraded_shared` only)."""


class KafkaSecurityError(FramegateError, ValueError):
    """Kafka security settings that cannot be used (a missing CA file, an unreadable password
    file); the message is one line naming the setting and never holds a secret."""


class PromptKeyError(FramegateError, ValueError):
    """The key for hashing stored prompts cannot be read or is too short (one line, no secret)."""
