"""Prompts are user data: with `hmac` storage the audit keeps a keyed hash of each prompt.

HMAC-SHA256 under a key from the settings: equal prompts still compare equal (repeats can be
counted), but a prompt cannot be read back, nor confirmed by hashing guesses without the key.
Pure functions; the sink's row mappers call them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from schemas.requests import GenerationRequest

PREFIX = "hmac-sha256:"
#: pydantic's error text quotes the offending input (`input_value='...'`): a prompt, maybe
_INPUT_VALUE = re.compile(r",? ?input_value=.*?(?=, input_type=|\]$)", re.MULTILINE)


def digest(key: bytes, text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return PREFIX + hmac.new(key, data, hashlib.sha256).hexdigest()


def request_json(request: GenerationRequest, key: bytes | None) -> str:
    """The request as stored: as sent, or with its prompts replaced by their keyed hashes."""
    if key is None:
        return request.model_dump_json()
    hashed: dict[str, Any] = {"prompt": digest(key, request.prompt)}
    if request.negative_prompt is not None:
        hashed["negative_prompt"] = digest(key, request.negative_prompt)
    return request.model_copy(update=hashed).model_dump_json()


def reject_fields(payload_text: str, error: str, raw: bytes, key: bytes | None) -> tuple[str, str]:
    """A rejected record's stored payload and error: as they are, or with the payload hashed
    and quoted input values dropped from the error (either may hold a prompt)."""
    if key is None:
        return payload_text, error
    return digest(key, raw), _INPUT_VALUE.sub("", error)
