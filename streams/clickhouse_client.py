"""ClickHouse connection from one DSN: `chdb://` (embedded) or `http(s)://` (a server)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client


class ClickHouseDsnError(ValueError):
    pass


def connect(dsn: str) -> Client:
    """Same client API either way; chDB allows one writer process per data directory."""
    scheme = urlparse(dsn).scheme
    if scheme == "chdb":
        path = dsn[len("chdb://") :]
        if not path.startswith("/"):
            raise ClickHouseDsnError(f"chdb DSN needs an absolute directory: {dsn!r}")
        Path(path).mkdir(parents=True, exist_ok=True)
        return clickhouse_connect.get_client(dsn=dsn)
    if scheme in ("http", "https", "clickhouse", "clickhouses"):
        return clickhouse_connect.get_client(dsn=dsn)
    raise ClickHouseDsnError(
        f"unsupported ClickHouse DSN scheme {scheme!r} (use chdb:// or http(s)://)"
    )
