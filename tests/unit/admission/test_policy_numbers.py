"""Admission's policy numbers are read from their one definition, not restated."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from schemas import WITHDRAWAL_POLICY, WithdrawalPolicy
from schemas.settings import load_settings
from streams.admission.state import AdmissionConfig, config_from_settings


def test_the_withdrawal_thresholds_are_the_contracts_and_fixed() -> None:
    assert (WITHDRAWAL_POLICY.io_saturation_ms, WITHDRAWAL_POLICY.cpu_load_per_core,
            WITHDRAWAL_POLICY.cpu_starvation_seconds) == (1500, 1.5, 30)
    for change in ({"io_saturation_ms": 2000}, {"cpu_load_per_core": 2.0}, {"cpu_starvation_seconds": 60}):
        with pytest.raises(ValidationError):
            WithdrawalPolicy(**change)  # type: ignore[arg-type]


def test_every_admission_setting_reaches_the_core() -> None:
    """Each knob set away from its default arrives in the core's config (a field the mapping
    forgot would keep the default and fail here)."""
    settings = load_settings(
        admission_heartbeat_stale_s=7.5, admission_cold_start_s=3.0, admission_default_service_s=2.5,
        admission_service_window=5, admission_retry_after_s=11, admission_dedup_retention_h=2.0,
    )
    config = config_from_settings(settings)
    assert (config.heartbeat_stale_s, config.cold_start_s, config.default_service_s) == (7.5, 3.0, 2.5)
    assert (config.service_window, config.retry_after_s, config.dedup_retention_s) == (5, 11, 7200.0)
    assert config != AdmissionConfig(), "the defaults must not have been kept"


def test_the_core_withdrawal_thresholds_are_the_policy() -> None:
    config = AdmissionConfig()
    assert (config.io_saturation_ms, config.cpu_starvation_factor, config.cpu_starvation_s) == (1500, 1.5, 30)
