"""Scrapes Prometheus text from each service, for the demo's metric check."""

from __future__ import annotations

import asyncio
from itertools import pairwise

import httpx
from prometheus_client.parser import text_string_to_metric_families


async def scrape_all(urls: dict[str, str], timeout_s: float = 5.0) -> dict[str, str]:
    """name -> exposition text ('' when a service did not answer)."""

    async def one(client: httpx.AsyncClient, url: str) -> str:
        try:
            response = await client.get(url, timeout=timeout_s)
        except httpx.HTTPError:
            return ""
        return response.text if response.status_code == 200 else ""

    async with httpx.AsyncClient() as client:
        texts = await asyncio.gather(*(one(client, url) for url in urls.values()))
    return dict(zip(urls, texts, strict=True))


def samples(
    text: str, prefix: str = "framegate_"
) -> dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """family -> {(sample name, labels): value}, for families whose name starts with `prefix`."""
    out: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith(prefix):
            continue
        values = out.setdefault(family.name, {})
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def unchanged_families(observations: list[str], prefix: str = "framegate_") -> list[str]:
    """Families that kept every sample's value (or had none) across `observations`, in order.

    A sample that appears counts as a change, so the first observation should be the service's
    registry as declared (nothing observed yet): a gauge set once at start-up still counts.
    """
    seen = [samples(text, prefix) for text in observations]
    families = {name for observed in seen for name in observed}
    return sorted(
        name
        for name in families
        if all(earlier.get(name, {}) == later.get(name, {}) for earlier, later in pairwise(seen))
    )
