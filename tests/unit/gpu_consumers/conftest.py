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


def pytest_runtest_setup(item: pytest.Item) -> None:
    """`gpu`-marked tests skip before their fixtures run (a tiny-model build) where there is no CUDA."""
    if item.get_closest_marker("gpu") is not None and not _cuda_available():
        pytest.skip("needs CUDA")


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())
