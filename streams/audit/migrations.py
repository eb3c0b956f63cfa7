"""Applies the versioned audit DDL (`framegate audit migrate`); safe to run any number of times."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from streams.audit.ddl import (
    LANE_EVENTS,
    MIGRATIONS,
    SCHEMA_MIGRATIONS,
    Migration,
    migrations_table,
)
from streams.audit.errors import InvalidDatabaseName

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def check_database_name(name: str) -> str:
    """Database names are spliced into DDL, so only plain identifiers pass."""
    if not _IDENTIFIER.match(name):
        raise InvalidDatabaseName(f"not a plain ClickHouse identifier: {name!r}")
    return name


@dataclass
class MigrationResult:
    database: str
    newly_applied: list[int] = field(default_factory=list)
    already_applied: list[int] = field(default_factory=list)
    ttl_changed: bool = False


def applied_versions(client: Any, db: str) -> set[int]:
    rows = client.query(f"SELECT DISTINCT version FROM {db}.{SCHEMA_MIGRATIONS}").result_rows
    return {int(row[0]) for row in rows}


def migrate(
    client: Any, db: str, heartbeat_ttl_days: int, migrations: tuple[Migration, ...] = MIGRATIONS
) -> MigrationResult:
    """Creates the database, re-asserts every migration's statements, records new versions.

    The heartbeat TTL is a setting, not a version: when it differs from the table's, it is
    altered in place so a changed setting takes effect on the next migrate.
    """
    check_database_name(db)
    if heartbeat_ttl_days < 1:
        raise ValueError("heartbeat TTL must be at least one day")
    client.command(f"CREATE DATABASE IF NOT EXISTS {db}")
    client.command(migrations_table(db))
    done = applied_versions(client, db)
    result = MigrationResult(database=db)
    for migration in sorted(migrations, key=lambda m: m.version):
        for statement in migration.statements(db, heartbeat_ttl_days):
            client.command(statement)
        if migration.version in done:
            result.already_applied.append(migration.version)
        else:
            client.insert(
                f"{db}.{SCHEMA_MIGRATIONS}",
                [[migration.version, migration.name]],
                column_names=["version", "name"],
            )
            result.newly_applied.append(migration.version)
    result.ttl_changed = _align_heartbeat_ttl(client, db, heartbeat_ttl_days)
    return result


def _align_heartbeat_ttl(client: Any, db: str, days: int) -> bool:
    ddl = client.query(
        "SELECT create_table_query FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        parameters={"db": db, "t": LANE_EVENTS},
    ).result_rows[0][0]
    if f"toIntervalDay({days})" in ddl:
        return False
    client.command(
        f"ALTER TABLE {db}.{LANE_EVENTS} MODIFY TTL toDateTime(occurred_at) + INTERVAL {days} DAY "
        "DELETE WHERE event_type = 'heartbeat'"
    )
    return True
