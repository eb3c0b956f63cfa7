"""The report's time axis: it spans the data (and the marks), close marks share a label, levels
are not carried over buckets without decisions, and the demo's marks file round-trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from streams.audit.macros import TimeRange
from streams.audit.panels import panel
from streams.audit.report import (
    Axis,
    PanelResult,
    _merged_marks,
    _plot,
    _runs,
    shared_axis,
)
from streams.audit.report_marks import MARKS_FILE, read_marks, write_marks

T = datetime(2026, 12, 7, 2, 44, 0, tzinfo=UTC)


def s(seconds: float) -> datetime:
    return T + timedelta(seconds=seconds)


def decisions(*at: float) -> PanelResult:
    p = panel("decisions")
    return PanelResult(p, list(p.column_names), [(s(x).replace(tzinfo=None), "accepted", 3) for x in at])


def test_the_axis_spans_the_data_and_the_marks_not_the_whole_range() -> None:
    tr = TimeRange(T - timedelta(hours=1), T + timedelta(hours=1), 2)
    marks = [("degrade", s(40)), ("long ago", T - timedelta(hours=3))]
    axis = shared_axis([decisions(10, 30)], tr, marks)
    assert axis.start == s(10 - 2) and axis.end == s(40 + 4)
    assert axis.marks == (("degrade", s(40)),)  # a mark outside the range is left out
    assert axis.bucket_s == 2


def test_without_data_the_axis_is_the_range() -> None:
    tr = TimeRange(T, s(600), 1)
    axis = shared_axis([decisions()], tr, [])
    assert (axis.start, axis.end) == (T, s(600))


def test_close_marks_share_one_label() -> None:
    axis = Axis(T, s(100), 1, (("burst", s(10)), ("preemption", s(10.5)), ("restore", s(11)),
                                ("kill -9", s(60))))
    assert _merged_marks(axis) == [("burst + preemption + restore", s(10)), ("kill -9", s(60))]


def test_a_level_is_not_carried_over_a_gap() -> None:
    xs = [s(0), s(1), s(2), s(10)]
    assert [len(run[0]) for run in _runs(xs, [1, 2, 3, 4], 1)] == [3, 1]


def test_marks_round_trip_and_a_bad_file_draws_none(tmp_path: Path) -> None:
    write_marks(tmp_path, [("kill -9", s(5)), ("degrade", s(1))])
    assert read_marks(tmp_path) == [("degrade", s(1)), ("kill -9", s(5))]
    (tmp_path / MARKS_FILE).write_text("{not json")
    assert read_marks(tmp_path) == []
    assert read_marks(tmp_path / "missing") == []


def test_counts_and_levels_render(tmp_path: Path) -> None:
    axis = Axis(T, s(60), 1, (("burst", s(20)),))
    _plot(decisions(5, 20, 21), tmp_path / "decisions.png", axis)
    depth = panel("queue_depth")
    rows = [(s(x).replace(tzinfo=None), "shared", d, 25) for x, d in ((19, 4), (20, 25), (40, 1))]
    _plot(PanelResult(depth, list(depth.column_names), rows), tmp_path / "depth.png", axis)
    for name in ("decisions.png", "depth.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
