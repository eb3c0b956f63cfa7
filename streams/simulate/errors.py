"""Errors of the simulator: each is a one-line message for the operator and exit code 2."""

from __future__ import annotations

from schemas.errors import FramegateError


class SimulateError(FramegateError):
    """Input the simulator cannot work with (empty window, no service times, bad scenario)."""

    exit_code = 2
