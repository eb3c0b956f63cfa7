"""The admission package's errors, under `FramegateError`."""

from __future__ import annotations

from schemas.errors import FramegateError


class AdmissionError(FramegateError):
    """Base of admission's deliberate errors."""


class SnapshotUnusable(AdmissionError):
    """A snapshot that cannot be trusted (another version, corrupt, incomplete): rebuild instead."""


class CatchUpTimeout(AdmissionError, TimeoutError):
    """The logs could not be read up to their end within the bound."""


class LaneCommandError(AdmissionError, ValueError):
    """An operator's lane command that the seed's transitions refuse."""
