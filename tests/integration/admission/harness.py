"""Runs the real admission agent (`python -m streams.cli admission`); what it reads is published,
and what it writes read back, through `tests.broker_io`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemas import GenerationRequest, LaneEvent, RouteLane, Topics
from streams.local_stack.broker import free_port
from streams.local_stack.processes import terminate
from tests.broker_io import Placed, publish_now
from tests.factories import degrade, heartbeat
from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[3]
#: An agent start on a busy 2-core CI box (interpreter, imports, group join, log fold).
START_S = 120


def agent_env(bootstrap: str, topics: Topics, data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAMEGATE_")}
    env.update(
        FRAMEGATE_KAFKA_BOOTSTRAP=bootstrap,
        FRAMEGATE_TOPIC_PREFIX=topics.prefix,
        FRAMEGATE_DATA_DIR=str(data_dir),
        FRAMEGATE_ADMISSION_WEB_PORT=str(port),
        FRAMEGATE_ADMISSION_HEARTBEAT_STALE_S="600",
        FRAMEGATE_ADMISSION_CRITICAL_PRODUCERS='["ops"]',
        HF_HUB_OFFLINE="1",
    )
    env.update(extra)
    return env


@dataclass
class Agent:
    bootstrap: str
    topics: Topics
    data_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    #: Log file name under `data_dir` (two agents sharing a directory keep separate logs).
    log_name: str = "agent.log"

    @property
    def env(self) -> dict[str, str]:
        return agent_env(self.bootstrap, self.topics, self.data_dir, self.port, **self.extra_env)

    @property
    def log_path(self) -> Path:
        return self.data_dir / self.log_name

    def launch(self, loglevel: str = "warning") -> Agent:
        """Start the process without waiting for it (see `wait_ready`)."""
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "admission", "--loglevel", loglevel],
            env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        return self

    def wait_ready(self, timeout_s: float = 60.0) -> Agent:
        wait_until(lambda: self.metric("framegate_admission_ready") == 1.0, timeout_s, 0.2,
                   what=f"admission agent ready (log: {self.log_path})")
        return self

    def start(self, timeout_s: float = 60.0, loglevel: str = "warning") -> Agent:
        return self.launch(loglevel).wait_ready(timeout_s)

    @contextmanager
    def running(self, timeout_s: float = 60.0) -> Iterator[Agent]:
        """Started and ready inside the block, stopped (by pid) when it ends."""
        self.start(timeout_s)
        try:
            yield self
        finally:
            self.stop()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def metrics_text(self) -> str:
        assert self.process is not None and self.process.poll() is None, "agent exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:
                return str(r.read().decode())
        except OSError:
            return ""

    def healthz(self) -> dict[str, Any] | None:
        """`GET /healthz` as JSON, or None while the agent does not answer."""
        assert self.process is not None and self.process.poll() is None, "agent exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                body = json.loads(r.read().decode())
        except urllib.error.HTTPError as err:  # e.g. 503 while not ready: the body still says why
            try:
                body = json.loads(err.read().decode())
            except ValueError:
                return None
        except (OSError, ValueError):
            return None
        return body if isinstance(body, dict) else None

    def role(self) -> str | None:
        """The role `/metrics` reports (the `framegate_admission_role` label set to 1)."""
        for role in ("active", "standby"):
            if self.metric("framegate_admission_role", role=role) == 1.0:
                return role
        return None

    def wait_role(self, role: str, timeout_s: float = 60.0) -> None:
        wait_until(lambda: self.role() == role, timeout_s, 0.1, what=f"role {role} (log: {self.log_path})")

    def metric(self, name: str, **labels: str) -> float | None:
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        prefix = f"{name}{{{want}}}" if labels else name
        for line in self.metrics_text().splitlines():
            if line.startswith(prefix + " "):
                return float(line.rsplit(" ", 1)[1])
        return None

    def stop(self, timeout_s: float = 30.0) -> None:
        proc, self.process = self.process, None
        if proc is not None:
            terminate(proc, timeout_s)

    def kill(self) -> float:
        """SIGKILL by pid (no shutdown path runs); returns the wall-clock time of the kill."""
        proc, self.process = self.process, None
        assert proc is not None and proc.poll() is None, "agent not running"
        killed_at = time.time()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        return killed_at


def lane_events(when: datetime, lanes: Sequence[RouteLane] = tuple(RouteLane),
                degraded: Sequence[RouteLane] = ()) -> list[LaneEvent]:
    """A heartbeat of one ready worker per lane in `lanes` at `when`, then each of `degraded`
    switched to the shared lane for capacity."""
    events = [heartbeat(lane, when, worker=f"w-{lane.value}") for lane in lanes]
    return events + [degrade(lane, when=when) for lane in degraded]


def lanes_ready(bootstrap: str, topics: Topics, when: datetime | None = None,
                lanes: Sequence[RouteLane] = tuple(RouteLane), degraded: Sequence[RouteLane] = ()) -> None:
    """`lane_events` at `when` (default now) on the lane event log, acknowledged."""
    events = lane_events(when or datetime.now(UTC), lanes, degraded)
    publish_now(bootstrap, [(topics.events_lane, e.lane_key.value.encode(), e.to_wire()) for e in events], partition=0)


def keyed(requests: Iterable[GenerationRequest]) -> list[tuple[str, bytes]]:
    return [(r.task_id, r.to_wire()) for r in requests]


def send_at(bootstrap: str, topics: Topics, bodies: list[tuple[str, bytes]], at: datetime) -> None:
    """`(task_id, body)` requests with log time `at` (+1 ms each), on partition 0: a sequence stays
    inside the 30 s queue wait however slow the machine is, since admission's clock is the record's
    log time."""
    ts = int(at.timestamp() * 1000)
    publish_now(bootstrap, [Placed(topics.tasks_requested, key.encode(), body, 0, ts + i)
                            for i, (key, body) in enumerate(bodies)])
