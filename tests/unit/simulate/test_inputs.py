"""Scenario files, windows, the what-if policy seam and request reconstruction (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas import DEGRADED_QUEUE_POLICY, ModelName, Priority, RouteLane
from schemas.settings import Settings
from streams.admission.core.config import CONTRACT_QUEUE
from streams.simulate import synthetic
from streams.simulate.core import new_state
from streams.simulate.errors import SimulateError
from streams.simulate.fidelity import check
from streams.simulate.history import RecordedDecision
from streams.simulate.reconstruct import original_request
from streams.simulate.replay import SimulatedDecisions
from streams.simulate.run import simulate_scenario
from streams.simulate.scenario import Scenario, from_flags, load_scenario
from streams.simulate.whatif_policy import label, parse_policy
from streams.simulate.window import parse_window


def test_a_full_scenario_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text("""
name = "burst"
elastic = false
arrival_scale = 2.5
[workers]
shared = 2
[[gpus]]
lane = "shared"
delta = 1
from_s = 10
until_s = 20
[[lane_modes]]
lane = "anisora"
mode = "degraded_shared"
at_s = 5
reason = "capacity"
""")
    s = load_scenario(path)
    assert s.workers == {RouteLane.shared: 2} and not s.elastic and s.arrival_scale == 2.5
    assert [s.workers_at(RouteLane.shared, 1, t) for t in (0, 10, 19.9, 20)] == [2, 3, 3, 2]
    assert s.workers_at(RouteLane.phr00t, 1, 0) == 1  # not overridden: as recorded


@pytest.mark.parametrize(("text", "fragment"), [
    ("workerz = 1\n", "unknown key 'workerz'"),
    ("[workers]\nshared = -1\n", "must be >= 0"),
    ("[workers]\ngpu9 = 1\n", "workers.gpu9"),
    ("[[lane_modes]]\nlane = \"anisora\"\nmode = \"degraded_shared\"\nat_s = 1\n", "needs a reason"),
    ("[[gpus]]\nlane = \"shared\"\ndelta = 1\nfrom_s = 5\nuntil_s = 5\ncolour = 1\n", "unknown key"),
    ("name = [", "not valid TOML"),
])
def test_a_bad_scenario_file_is_one_line(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SimulateError) as err:
        load_scenario(path)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_flags_build_a_scenario_and_refuse_bad_forms() -> None:
    s = from_flags(["shared=3"], ["anisora@30"], ["anisora@90"], True, 1.0, 0)
    assert s.workers == {RouteLane.shared: 3}
    assert [m.at_s for m in s.lane_modes] == [30.0, 90.0]
    with pytest.raises(SimulateError, match="expected the form shared=2"):
        from_flags(["shared"], [], [], True, 1.0, 0)


def test_windows() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    w = parse_window(None, None, 2.0, now)
    assert w.start == datetime(2026, 1, 1, 10, tzinfo=UTC) and w.end is None
    assert parse_window("2026-01-01T00:00:00", None, None).start == datetime(2026, 1, 1, tzinfo=UTC)
    for args in (("soon", None, None), (None, None, -1.0), ("2026-01-02", "2026-01-01", None)):
        with pytest.raises(SimulateError):
            parse_window(*args)


def test_the_what_if_policy_is_labelled_changes_decisions_and_is_put_back() -> None:
    policy = parse_policy("depth=40,wait=600")
    assert label(DEGRADED_QUEUE_POLICY) is None
    assert "OUTSIDE THE CONTRACT" in (label(policy) or "")
    h = synthetic.history(20.0, 3.0, 1.0, [synthetic.degrade(ModelName.anisora, 0.0)], models=(ModelName.anisora,))
    one = Scenario(name="one", workers={lane: 1 for lane in RouteLane})
    contract = simulate_scenario(h, Settings(), one)
    wider = simulate_scenario(h, Settings(), one, policy)
    assert contract.peak_depth["shared"] == 25 and wider.peak_depth["shared"] == 40
    assert wider.outside_contract and not contract.outside_contract
    # The what-if policy lives in that run's state only: a fresh core is back on the contract.
    assert new_state(Settings()).queue(RouteLane.shared).policy == CONTRACT_QUEUE


def test_recorded_step_downs_are_undone() -> None:
    granted = {"width": 832, "height": 480, "fps": 12, "num_frames": 41, "encoding_profile": "h264_main"}
    body = original_request(granted, ["resolution", "fps", "encoding_profile"],
                            ["1280x720", "24fps x 81 frames", "h264_high"])
    assert body == {"width": 1280, "height": 720, "fps": 24, "num_frames": 81, "encoding_profile": "h264_high"}


def _d(outcome: str, code: str | None, offset: int) -> RecordedDecision:
    return RecordedDecision(at=synthetic.EPOCH, outcome=outcome, code=code, task_id=f"t{offset}", model="anisora",
                            priority=Priority.standard.value, lane="shared", lane_mode="degraded_shared",
                            queue_depth=3, reason="wait" if code else None, replayed=False, source=(0, offset))


def test_fidelity_lists_every_disagreement_with_its_reason() -> None:
    h = synthetic.history(1.0, 0.0, 1.0, materialise=False)
    h.decisions = {(0, 0): _d("accepted", None, 0), (0, 1): _d("rejected", "queue_overloaded", 1)}
    sim = SimulatedDecisions(primary={(0, 0): _d("accepted", None, 0), (0, 1): _d("accepted", None, 1)})
    f = check(h, sim)
    assert (f.compared, f.agreed) == (2, 1)
    [d] = f.disagreements
    assert d.recorded == "rejected queue_overloaded" and d.simulated == "accepted"
    assert "reason wait vs -" in d.reason


def test_percentiles_interpolate_like_numpy() -> None:
    from streams.simulate.answers import percentile

    values = [1.0, 2.0, 3.0, 4.0, 10.0]
    assert [percentile(values, q) for q in (0, 50, 95, 100)] == pytest.approx([1.0, 3.0, 8.8, 10.0])
    assert percentile([7.0], 95) == 7.0
