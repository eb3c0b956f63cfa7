"""`make test-docker` skips cleanly where no Docker engine answers (it must never fail there)."""

from __future__ import annotations

import pytest

from tests import docker_suite
from tests.backends import docker_engine_answers


def test_without_docker_the_suite_says_so_and_succeeds(capsys: pytest.CaptureFixture[str]) -> None:
    if docker_engine_answers():
        pytest.skip("a Docker engine answers here: the suite would really run")
    assert docker_suite.main([]) == 0
    assert "no Docker engine answers" in capsys.readouterr().out
