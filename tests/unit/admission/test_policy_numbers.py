"""Admission's policy numbers are read from their one definition, not restated."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from schemas import WITHDRAWAL_POLICY, WithdrawalPolicy
from schemas.settings import Settings
from streams.admission.state import AdmissionConfig


def test_the_withdrawal_thresholds_are_the_contracts_and_fixed() -> None:
    assert (WITHDRAWAL_POLICY.io_saturation_ms, WITHDRAWAL_POLICY.cpu_load_per_core,
            WITHDRAWAL_POLICY.cpu_starvation_seconds) == (1500, 1.5, 30)
    for change in ({"io_saturation_ms": 2000}, {"cpu_load_per_core": 2.0}, {"cpu_starvation_seconds": 60}):
        with pytest.raises(ValidationError):
            WithdrawalPolicy(**change)  # type: ignore[arg-type]


def test_the_core_defaults_are_the_settings_and_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("FRAMEGATE_")]:
        monkeypatch.delenv(name)
    config, settings = AdmissionConfig(), Settings()
    assert (config.heartbeat_stale_s, config.retry_after_s) == (15.0, 30)
    assert config.heartbeat_stale_s == settings.admission_heartbeat_stale_s
    assert config.cold_start_s == settings.admission_cold_start_s
    assert config.default_service_s == settings.admission_default_service_s
    assert config.service_window == settings.admission_service_window
    assert config.retry_after_s == settings.admission_retry_after_s
    assert (config.io_saturation_ms, config.cpu_starvation_factor, config.cpu_starvation_s) == (
        WITHDRAWAL_POLICY.io_saturation_ms, WITHDRAWAL_POLICY.cpu_load_per_core,
        WITHDRAWAL_POLICY.cpu_starvation_seconds)
