"""Faust as admission uses it, through its public API only: the worker, web pages, timers, tasks.

Admission is a `faust.App` run by `faust.Worker` (signals, shutdown, logging), serving
`/metrics` and `/healthz` with `@app.page`, flushing and snapshotting on `@app.timer` and running
its request loop as an `@app.task`. Faust's own Kafka client is left off through the app's public
boot strategy (`App.BootStrategy`, `enable_kafka=False`): requests are read by a plain aiokafka
consumer group (`intake.RequestIntake`, which says why a Faust agent cannot read them here with
Faust's public API) and outputs written by a plain aiokafka producer (`output_batches`), both
built from the broker profile. With its consumer on and no topic subscribed, Faust's conductor
would crash at start-up (aiokafka refuses an empty subscription), so off is also the only sound
setting for an app whose agents read nothing.

`app_options` still maps the broker profile onto Faust's settings: the Faust floor bench runs a
Faust agent with the same options, to compare admission against what Faust itself can take.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.app import BootStrategy

from schemas.broker_profile import BrokerProfile


class WithoutKafka(BootStrategy):
    """Faust's web server, timers and tasks, without its Kafka consumer, producer or tables."""

    enable_kafka = False


class AdmissionApp(faust.App):
    BootStrategy = WithoutKafka


def app_options(profile: BrokerProfile) -> dict[str, Any]:
    """Faust settings derived from the profile (seconds where Faust wants seconds)."""
    session = profile.session_timeout_ms / 1000
    return {
        "broker_session_timeout": session,
        "broker_heartbeat_interval": profile.heartbeat_interval_ms / 1000,
        "broker_request_timeout": max(40.0, session * 2),
        "broker_rebalance_timeout": profile.rebalance_timeout_ms / 1000,
        "broker_max_poll_interval": profile.max_poll_interval_ms / 1000,
        "consumer_auto_offset_reset": "earliest",
        # Topics are created by `framegate topics create`; Faust must not auto-create them
        # (tansu would make 4 partitions) nor its assignor leader topic.
        "topic_allow_declare": profile.auto_create_topics,
        "topic_disable_leader": True,
        "broker_max_poll_records": 2000,
        "stream_buffer_maxsize": 16384,
        "producer_acks": -1,
    }


def run_worker(app: faust.App, loglevel: str) -> None:
    """Run `app` in Faust's worker until SIGINT/SIGTERM (the worker handles both).

    Faust's terminal spinner (on for loglevel >= warning) sets the ROOT logger to DEBUG so it can
    spin on every record, and every aiokafka debug call then builds a LogRecord: it is left off,
    so the root logger keeps `loglevel`.
    """
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    worker.spinner = None
    worker.execute_from_commandline()
