"""Tiny models built once per session; torch/diffusers imported once, not per test."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gpu_consumers.tiny_models import build_tiny_models

    directory = tmp_path_factory.mktemp("tiny-models")
    build_tiny_models(directory)
    return directory
