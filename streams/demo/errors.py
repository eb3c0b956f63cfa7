"""The demo package's errors, under `FramegateError`."""

from __future__ import annotations

from schemas.errors import FramegateError


class DemoError(FramegateError, RuntimeError):
    """The scenario could not go on: a service died or a chapter's condition never held."""
