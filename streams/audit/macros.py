"""Expands grafana-clickhouse-datasource macros the way the plugin does, for tests and the report.

Spellings follow the plugin (pkg/macros): `$__timeFilter(col)` compares with `toDateTime(secs)`,
`$__timeFilter_ms(col)` with `fromUnixTimestamp64Milli(ms)`, `$__timeInterval(col)` buckets with
`toStartOfInterval(toDateTime(col), INTERVAL n second)`. Dashboard variables (`${database}`) are
substituted from a mapping. An unknown macro or variable raises: a typo must fail the panel test.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

_MACRO = re.compile(r"\$__(\w+)(?:\(([^()]*)\))?")
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(?!__)(\w+)")


class MacroError(ValueError):
    pass


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime
    interval_s: int
    #: `$__interval_ms`: the same interval unrounded to whole seconds (0: `interval_s`).
    interval_ms: int = 0

    @classmethod
    def last(cls, span: timedelta, now: datetime, points: int = 120) -> TimeRange:
        """`$__interval_s` and `$__interval_ms` as Grafana would pick them for ~`points` buckets
        (the first at least 1 s, the second at least 1 ms)."""
        interval = max(1, math.ceil(span.total_seconds() / points))
        interval_ms = max(1, math.ceil(span.total_seconds() * 1000 / points))
        return cls(now - span, now, interval, interval_ms)

    @property
    def bucket_ms(self) -> int:
        return self.interval_ms or self.interval_s * 1000

    @property
    def from_s(self) -> int:
        return int(self.start.timestamp())

    @property
    def to_s(self) -> int:
        return int(self.end.timestamp())

    @property
    def from_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def to_ms(self) -> int:
        return int(self.end.timestamp() * 1000)


def _one_column(name: str, args: str | None) -> str:
    if args is None or not args.strip() or "," in args:
        raise MacroError(f"$__{name} takes exactly one column")
    return args.strip()


def _expand_macro(name: str, args: str | None, tr: TimeRange) -> str:
    if name == "timeFilter":
        col = _one_column(name, args)
        return f"{col} >= toDateTime({tr.from_s}) AND {col} <= toDateTime({tr.to_s})"
    if name == "timeFilter_ms":
        col = _one_column(name, args)
        return (f"{col} >= fromUnixTimestamp64Milli({tr.from_ms}) AND "
                f"{col} <= fromUnixTimestamp64Milli({tr.to_ms})")
    if name == "dateFilter":
        col = _one_column(name, args)
        return f"{col} >= toDate({tr.from_s}) AND {col} <= toDate({tr.to_s})"
    if name == "timeInterval":
        col = _one_column(name, args)
        return f"toStartOfInterval(toDateTime({col}), INTERVAL {tr.interval_s} second)"
    if name == "timeInterval_ms":
        col = _one_column(name, args)
        return f"toStartOfInterval(toDateTime64({col}, 3), INTERVAL {tr.bucket_ms} millisecond)"
    no_args = {
        "fromTime": f"toDateTime({tr.from_s})",
        "toTime": f"toDateTime({tr.to_s})",
        "fromTime_ms": f"fromUnixTimestamp64Milli({tr.from_ms})",
        "toTime_ms": f"fromUnixTimestamp64Milli({tr.to_ms})",
        "interval_s": str(tr.interval_s),
        "interval_ms": str(tr.bucket_ms),
    }
    if name in no_args:
        if args is not None:
            raise MacroError(f"$__{name} takes no arguments")
        return no_args[name]
    raise MacroError(f"unknown macro $__{name}")


def expand(sql: str, tr: TimeRange, variables: Mapping[str, str]) -> str:
    """Macros first (they contain no variables), then `${var}` / `$var`."""
    expanded = _MACRO.sub(lambda m: _expand_macro(m.group(1), m.group(2), tr), sql)

    def variable(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in variables:
            raise MacroError(f"unknown dashboard variable ${name}")
        return variables[name]

    return _VARIABLE.sub(variable, expanded)
