"""Drives lane workers against the real broker: work items in (through `tests.broker_io`),
lifecycle events out (`observing`, from there too)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from schemas import (
    AdmissionDecision,
    LaneMode,
    ModelName,
    RouteLane,
    Topics,
)
from schemas.envelope import utc_now
from schemas.settings import Settings, load_settings
from tests.broker_io import PROFILE, Observed, observing, publish
from tests.factories import accepted, tiny_request

__all__ = ["PROFILE", "Observed", "lane_settings", "observing", "publish_items", "publish_raw", "work_item"]


def lane_settings(bootstrap: str, topics: Topics, model_dir: Path, artifact_dir: Path, **extra: Any) -> Settings:
    return load_settings(
        kafka_bootstrap=bootstrap,
        topic_prefix=topics.prefix,
        model_dir=model_dir,
        artifact_dir=artifact_dir,
        lane_heartbeat_interval_s=0.5,
        lane_max_sequence_length=32,
        lane_memory_reserve_gib=0.0,
        **extra,
    )


def work_item(
    model: ModelName,
    lane: RouteLane,
    *,
    task_id: str | None = None,
    lane_mode: LaneMode = LaneMode.dedicated,
    occurred_at: datetime | None = None,
    width: int = 32,
    height: int = 32,
    num_frames: int = 9,
    **request_fields: Any,
) -> AdmissionDecision:
    task_id = task_id or f"task-{uuid.uuid4().hex[:12]}"
    request = tiny_request(
        model, task_id=task_id, width=width, height=height, num_frames=num_frames, **request_fields
    )
    fields: dict[str, Any] = {}
    if occurred_at is not None:
        fields["occurred_at"] = occurred_at
    return accepted(request, lane=lane, lane_mode=lane_mode, **fields)


async def publish_items(
    bootstrap: str, topics: Topics, items: list[AdmissionDecision], partition: int | None = None
) -> None:
    """`partition` pins every item to one partition, so one worker sees them in this order."""
    records = []
    for item in items:
        assert item.lane is not None and item.task_id is not None
        records.append((topics.lane(item.lane), item.task_id.encode(), item.to_wire()))
    await publish(bootstrap, records, partition=partition, one_at_a_time=True)


async def publish_raw(bootstrap: str, topic: str, value: bytes, key: bytes | None) -> None:
    await publish(bootstrap, [(topic, key, value)])


def now() -> datetime:
    return utc_now()


ROOT = Path(__file__).resolve().parents[3]


def spawn_worker(
    lane: RouteLane, worker_id: str, bootstrap: str, topics: Topics, model_dir: Path, tmp: Path,
    **env_extra: str,
) -> subprocess.Popen[bytes]:
    """`python -m gpu_consumers lane <lane>` as its own process; its log is `tmp/<worker_id>.log`."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "FRAMEGATE_KAFKA_BOOTSTRAP": bootstrap,
        "FRAMEGATE_TOPIC_PREFIX": topics.prefix,
        "FRAMEGATE_MODEL_DIR": str(model_dir),
        "FRAMEGATE_ARTIFACT_DIR": str(tmp / "artifacts"),
        "FRAMEGATE_LANE_WORKER_ID": worker_id,
        "FRAMEGATE_LANE_HEARTBEAT_INTERVAL_S": "0.5",
        "FRAMEGATE_LANE_MAX_SEQUENCE_LENGTH": "32",
        "FRAMEGATE_LANE_MEMORY_RESERVE_GIB": "0",
        # Slow steps make "mid-job" a wide window: 8 steps x 0.5 s for anisora.
        "FRAMEGATE_LANE_STEP_DELAY_S": "0.5",
        **env_extra,
    }
    log = open(tmp / f"{worker_id}.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpu_consumers", "lane", lane.value],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    log.close()
    return proc
