"""Prompts are user data: `hmac` storage keeps a keyed hash of each prompt (and of rejected
payloads), never the text; the retention setting renders as a column TTL."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from schemas.errors import PromptKeyError
from schemas.limits import MAX_PROMPT_CHARS
from schemas.settings import Settings
from schemas.topics import Topics
from streams.audit import ddl
from streams.audit.prompt_privacy import digest
from streams.audit.rows import TABLE_COLUMNS, MappedRow, Source, routes, to_row
from tests import factories

KEY = b"k" * 32
NOW = datetime(2026, 1, 1, tzinfo=UTC)
TOPICS = Topics()
REQUEST_AT = TABLE_COLUMNS[ddl.ADMISSION_DECISIONS].index("request")
PAYLOAD_AT = TABLE_COLUMNS[ddl.REJECTS].index("payload")
ERROR_AT = TABLE_COLUMNS[ddl.REJECTS].index("error")


def stored_request(prompt: str, negative: str | None, key: bytes | None) -> dict[str, object]:
    req = factories.request(prompt=prompt, negative_prompt=negative)
    decision = factories.accepted(req)
    row = to_row(routes(TOPICS, key), Source(TOPICS.tasks_accepted, 0, 1), decision.to_wire(), NOW)
    assert row.table == ddl.ADMISSION_DECISIONS
    return dict(json.loads(row.row[REQUEST_AT]))


def test_text_storage_keeps_the_prompt() -> None:
    assert stored_request("a red fox", "blurry", None)["prompt"] == "a red fox"


@given(st.text(min_size=1, max_size=200).filter(str.strip), st.booleans())
def test_hmac_storage_keeps_only_the_keyed_hash(prompt: str, with_negative: bool) -> None:
    marked = f"\u00a7{prompt}"  # a marker, so the text cannot occur elsewhere by chance
    negative = f"\u00a7neg {prompt}" if with_negative else None
    stored = stored_request(marked, negative, KEY)
    expected = "hmac-sha256:" + hmac.new(KEY, marked.encode(), hashlib.sha256).hexdigest()
    assert stored["prompt"] == expected
    assert stored["negative_prompt"] == (digest(KEY, negative) if negative else None)
    assert marked not in json.dumps(stored)
    assert stored["task_id"]  # the rest of the request stays


def test_the_hash_depends_on_the_key() -> None:
    assert digest(KEY, "same") == digest(KEY, "same") != digest(b"x" * 32, "same")


def test_a_rejected_record_keeps_neither_payload_nor_quoted_prompt() -> None:
    # over the prompt length limit: pydantic quotes the prompt in its error
    body = factories.request_body(prompt="\u00a7secret prompt " + "x" * MAX_PROMPT_CHARS)
    raw = json.dumps({"outcome": "accepted", "request": body}, ensure_ascii=False).encode()
    plain = to_row(routes(TOPICS), Source(TOPICS.tasks_accepted, 0, 2), raw, NOW)
    hashed = to_row(routes(TOPICS, KEY), Source(TOPICS.tasks_accepted, 0, 2), raw, NOW, KEY)
    assert isinstance(plain, MappedRow) and plain.table == ddl.REJECTS
    assert "\u00a7secret prompt" in plain.row[PAYLOAD_AT]
    assert "\u00a7secret prompt" in plain.row[ERROR_AT]
    assert hashed.row[PAYLOAD_AT] == digest(KEY, raw)
    assert "\u00a7secret prompt" not in hashed.row[ERROR_AT]
    assert hashed.row[ERROR_AT]  # still says what was wrong


def test_hmac_storage_needs_a_key() -> None:
    with pytest.raises(ValidationError, match="FRAMEGATE_AUDIT_PROMPT_HMAC_KEY"):
        Settings(audit_prompt_storage="hmac")


def test_the_key_comes_from_a_file_or_the_environment(tmp_path: Path) -> None:
    key_file = tmp_path / "prompt.key"
    key_file.write_text("0123456789abcdef-file\n")
    from_file = Settings(audit_prompt_storage="hmac", audit_prompt_hmac_key_file=key_file)
    assert from_file.resolved_prompt_hmac_key() == b"0123456789abcdef-file"
    from_env = Settings(audit_prompt_storage="hmac",
                        audit_prompt_hmac_key=SecretStr("0123456789abcdef-env"))
    assert from_env.resolved_prompt_hmac_key() == b"0123456789abcdef-env"
    assert "0123456789abcdef-env" not in repr(from_env)
    assert Settings().resolved_prompt_hmac_key() is None


@pytest.mark.parametrize("content", [None, "short"])
def test_an_unusable_key_is_one_line(tmp_path: Path, content: str | None) -> None:
    key_file = tmp_path / "prompt.key"
    if content is not None:
        key_file.write_text(content)
    settings = Settings(audit_prompt_storage="hmac", audit_prompt_hmac_key_file=key_file)
    with pytest.raises(PromptKeyError) as caught:
        settings.resolved_prompt_hmac_key()
    assert "\n" not in str(caught.value)


def test_retention_renders_a_column_ttl_on_every_prompt_column() -> None:
    assert Settings().audit_prompt_retention_days == 30  # the documented default
    columns = {(table, column) for table, column, _time in ddl.PROMPT_COLUMNS}
    assert columns == {(ddl.ADMISSION_DECISIONS, "request"), (ddl.REJECTS, "payload")}
    assert ddl.prompt_ttl_statement("db", ddl.REJECTS, "payload", "received_at", 7) == (
        "ALTER TABLE db.audit_rejects MODIFY COLUMN payload TTL toDateTime(received_at) "
        "+ INTERVAL 7 DAY")
