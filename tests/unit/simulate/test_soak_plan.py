"""The soak bench's scripted starved spell outlasts the policy's sustain time at any run length,
so every recorded soak run holds `cpu_starvation` refusals."""

from __future__ import annotations

import pytest

from bench.soak_fidelity import Plan
from schemas import WITHDRAWAL_POLICY


@pytest.mark.parametrize("minutes", [1.5, 2.0, 3.0, 10.0])
def test_the_starved_spell_fits_the_run_and_outlasts_the_sustain_time(minutes: float) -> None:
    plan = Plan(minutes=minutes)
    spell = plan.starved_spell()
    assert spell is not None
    start, end = spell
    assert end - start > WITHDRAWAL_POLICY.cpu_starvation_seconds
    assert start >= 0.0 and end <= plan.seconds


def test_the_machines_own_load_has_no_scripted_spell() -> None:
    assert Plan(minutes=2.0, starved_from=None).starved_spell() is None
