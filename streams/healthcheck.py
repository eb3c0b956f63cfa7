"""`python -m streams.healthcheck [URL] [--gauge NAME]`: container health probe, exit 0 or 1.

With a URL: healthy when it answers 200 and, with `--gauge`, the exposition has a sample of that
name equal to 1 (admission's `framegate_admission_ready`). Without a URL (the image's default
HEALTHCHECK, which cannot know which service the container runs): healthy when any HTTP endpoint
the settings give a service answers 200 on loopback.
"""

from __future__ import annotations

import argparse
import sys

import httpx
from prometheus_client.parser import text_string_to_metric_families

from schemas.settings import Settings, load_settings

TIMEOUT_S = 3.0


def gauge_is_one(exposition: str, name: str) -> bool:
    """True when some sample called `name` has the value 1 (malformed text: False)."""
    try:
        return any(
            sample.name == name and sample.value == 1
            for family in text_string_to_metric_families(exposition)
            for sample in family.samples
        )
    except ValueError:
        return False


def candidate_urls(settings: Settings) -> list[str]:
    """The loopback endpoints of every service these settings would run, health route first."""
    urls = [f"http://127.0.0.1:{settings.gateway_port}/healthz"]
    urls.append(f"http://127.0.0.1:{settings.admission_web_port}/metrics")
    if settings.lane_metrics_port:
        urls.append(f"http://127.0.0.1:{settings.lane_metrics_port}/metrics")
    if settings.audit_metrics_port:
        urls.append(f"http://127.0.0.1:{settings.audit_metrics_port}/metrics")
    return urls


def probe(url: str, gauge: str | None = None) -> bool:
    try:
        response = httpx.get(url, timeout=TIMEOUT_S)
    except httpx.HTTPError:
        return False
    if response.status_code != 200:
        return False
    return gauge is None or gauge_is_one(response.text, gauge)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streams.healthcheck", description=__doc__)
    parser.add_argument("url", nargs="?", help="endpoint to probe (default: from settings)")
    parser.add_argument("--gauge", help="metric that must be 1 in the answer")
    args = parser.parse_args(argv)
    if args.url:
        return 0 if probe(args.url, args.gauge) else 1
    return 0 if any(probe(url) for url in candidate_urls(load_settings())) else 1


if __name__ == "__main__":
    sys.exit(main())
