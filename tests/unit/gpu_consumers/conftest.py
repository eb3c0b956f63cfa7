"""Tiny models for the job-runner tests, built once per session (torch imports once)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gpu_consumers.tiny_models import build_tiny_models

    directory = tmp_path_factory.mktemp("tiny-models-unit")
    build_tiny_models(directory)
    return directory
