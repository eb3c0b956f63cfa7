"""How long ClickHouse keeps prompts: a column TTL on each column holding request bodies.

Applied after `migrate` (by `framegate audit migrate` and the sink's start-up migration) and
re-aligned whenever `audit_prompt_retention_days` changes, as the heartbeat TTL is.
"""

from __future__ import annotations

import re
from typing import Any

from streams.audit.ddl import PROMPT_COLUMNS, prompt_ttl_statement


def align_prompt_retention(client: Any, db: str, days: int) -> list[str]:
    """Set each prompt column's TTL to `days`; returns the `table.column`s that changed."""
    changed = []
    for table, column, time in PROMPT_COLUMNS:
        create = client.query(
            "SELECT create_table_query FROM system.tables WHERE database = {db:String} AND name = {t:String}",
            parameters={"db": db, "t": table},
        ).result_rows[0][0]
        current = re.compile(
            rf"`{column}` String(?: COMMENT '(?:[^'\\]|\\.)*')? "
            rf"TTL toDateTime\({time}\) \+ toIntervalDay\({days}\)[,)]"
        )
        if current.search(create):
            continue
        client.command(prompt_ttl_statement(db, table, column, time, days))
        changed.append(f"{table}.{column}")
    return changed
