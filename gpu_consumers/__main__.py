"""`python -m gpu_consumers lane <anisora|phr00t|shared>` and `... models build-tiny DIR`.

`framegate lane <lane>` and `framegate models build-tiny DIR` re-exec into this entry point.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from pydantic import ValidationError

from schemas.enums import RouteLane
from schemas.errors import KafkaSecurityError
from schemas.settings import load_settings, settings_error_line

EXIT_USAGE = 2  # as `framegate` reports settings it cannot use (streams.cli_failures)


def _run_lane(lane: RouteLane) -> int:
    from gpu_consumers.worker import LaneWorker

    settings = load_settings()
    settings.kafka_security.check_usable()  # one line now, not after the models load
    worker = LaneWorker(lane, settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await worker.run(stop)

    asyncio.run(main())
    if worker.abandoned is not None:
        # Its job thread stops at the next step boundary; the process does not wait for it.
        logging.getLogger(__name__).warning("exiting without waiting for abandoned task %s", worker.abandoned)
        logging.shutdown()
        os._exit(0)
    return 0


def _build_tiny(directory: Path) -> int:
    from gpu_consumers.tiny_models import build_tiny_models

    for model, path in build_tiny_models(directory).items():
        print(f"{model.value}: {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpu_consumers")
    sub = parser.add_subparsers(dest="command", required=True)
    lane = sub.add_parser("lane", help="run a lane worker")
    lane.add_argument("lane", choices=[lane.value for lane in RouteLane])
    models = sub.add_parser("models", help="model directories")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    tiny = models_sub.add_parser("build-tiny", help="write tiny random-weight models (offline)")
    tiny.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "lane":
        try:
            return _run_lane(RouteLane(args.lane))
        except KafkaSecurityError as exc:
            problem = str(exc)
        except ValidationError as exc:
            if exc.title != "Settings":
                raise
            problem = settings_error_line(exc)
        print(f"framegate lane: invalid settings: {problem}", file=sys.stderr)
        return EXIT_USAGE
    return _build_tiny(args.directory)


if __name__ == "__main__":
    sys.exit(main())
