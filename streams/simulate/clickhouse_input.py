"""History from the audit tables (`admission_decisions`, `task_events`, `lane_events`).

Events are read in their Kafka log order (`kafka_partition`, `kafka_offset`: every event is
keyed by its task id or lane key, so one partition holds an entity's events in publishing order,
and the `events.*` topics have one partition), requests in `tasks.requested` order (the
decisions' `source_offset`). Times only place events in the window: producer clocks tie and drift.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client
from pydantic import ValidationError

from schemas import GenerationRequest
from streams.cli_failures import clickhouse_failure, redacted_dsn
from streams.clickhouse_client import ClickHouseDsnError, connect
from streams.simulate.errors import SimulateError
from streams.simulate.history import Arrival, History, TimedEvent
from streams.simulate.reconstruct import (
    lane_event_from_row,
    recorded_decision,
    request_from_row,
    task_event_from_row,
)
from streams.simulate.window import WARMUP_S, Window


def _where(window: Window, column: str, warmup_s: float = 0.0) -> tuple[str, dict[str, Any]]:
    parts, params = ["1"], {}
    if window.start is not None:
        parts.append(f"{column} >= %(start)s")
        params["start"] = window.start - timedelta(seconds=warmup_s)
    if window.end is not None:
        parts.append(f"{column} < %(end)s")
        params["end"] = window.end
    return " AND ".join(parts), params


def _aware(value: Any) -> Any:
    # DateTime64(3, 'UTC') columns come back naive (in UTC) from some drivers
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _rows(client: Client, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: _aware(v) for k, v in row.items()}
            for row in client.query(sql, parameters=params).named_results()]


def read_clickhouse(dsn: str, database: str, window: Window) -> History:
    try:
        client = connect(dsn)
    except ClickHouseDsnError as exc:
        raise SimulateError(str(exc)) from None
    except Exception as exc:  # a server that does not answer: one line, not a traceback
        failure = clickhouse_failure(exc, dsn)
        if failure is not None:  # exit 3/4 at the entry point, like every command
            raise failure from None
        raise SimulateError(f"cannot reach ClickHouse at {redacted_dsn(dsn)}: "
                            f"{type(exc).__name__}: {exc}") from None
    try:
        return _read(client, database, window, dsn)
    except SimulateError:
        raise
    except ValidationError as exc:
        raise SimulateError(f"an audit row does not fit the contract: {exc.errors()[0]['msg']}") from None
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SimulateError(f"reading the audit tables of {database} failed: {first[:300]}") from None
    finally:
        client.close()


def _read(client: Client, db: str, window: Window, dsn: str) -> History:
    where, params = _where(window, "occurred_at")
    decision_rows = _rows(client, f"SELECT * FROM {db}.admission_decisions FINAL WHERE {where} "
                                  "ORDER BY source_partition, source_offset, kafka_offset", params)
    if not decision_rows:
        raise SimulateError(f"empty window: no admission decisions in {db}.admission_decisions "
                            f"between {window.start or 'the beginning'} and {window.end or 'now'}")
    history = History(origin=dsn, start=0.0, end=0.0)
    arrivals: dict[tuple[int, int], Arrival] = {}
    first_request: dict[str, GenerationRequest] = {}
    for row in decision_rows:
        decision = recorded_decision(row)
        if decision.reason == "preempted" and decision.task_id is not None:
            # the victim's decision (its source is the request that pushed it out)
            history.preemptions[decision.task_id] = decision
            continue
        if decision.source is None:
            continue
        if decision.source in history.decisions:
            continue
        history.decisions[decision.source] = decision
        at: datetime = row["occurred_at"]
        if decision.replayed:
            # A re-sent task id: the core answers from memory, so any request with the id will do.
            request = first_request.get(decision.task_id or "")
        else:
            request = request_from_row(row, decision, at)
            if request is not None:
                first_request.setdefault(request.task_id, request)
        partition, offset = decision.source
        arrivals[decision.source] = Arrival(
            ts=at.timestamp(), at=at, partition=partition, offset=offset, request=request,
            carried=decision if request is None else None, shape_known=bool(row["request"]) or decision.replayed,
        )
    history.arrivals = [arrivals[k] for k in sorted(arrivals)]
    ev_where, ev_params = _where(window, "occurred_at", WARMUP_S)
    history.task_events = [
        TimedEvent(r["occurred_at"].timestamp(), task_event_from_row(r), r["kafka_offset"])
        for r in _rows(client, f"SELECT * FROM {db}.task_events FINAL WHERE {ev_where} "
                               "ORDER BY kafka_partition, kafka_offset", ev_params)
    ]
    lane_where, lane_params = _where(Window(None, window.end), "occurred_at")
    lanes = []
    for r in _rows(client, f"SELECT * FROM {db}.lane_events FINAL WHERE {lane_where} "
                           "ORDER BY kafka_partition, kafka_offset", lane_params):
        early = window.start is not None and r["occurred_at"] < window.start - timedelta(seconds=WARMUP_S)
        if early and r["event_type"] == "heartbeat":
            continue  # lane states before the window still count; old heartbeats do not
        lanes.append(TimedEvent(r["occurred_at"].timestamp(), lane_event_from_row(r), r["kafka_offset"]))
    history.lane_events = lanes
    times = [a.ts for a in history.arrivals]
    history.start = window.start.timestamp() if window.start else min(times)
    history.end = window.end.timestamp() if window.end else max(
        times + [e.ts for e in history.task_events])
    return history

