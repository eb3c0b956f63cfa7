"""Bytes <-> messages. JSON on the wire, UTF-8, size-limited before parsing."""

from typing import TypeVar

from pydantic import BaseModel

from schemas.errors import PayloadTooLarge
from schemas.limits import MAX_PAYLOAD_BYTES

__all__ = ["PayloadTooLarge", "decode", "encode"]

M = TypeVar("M", bound=BaseModel)


def encode(message: BaseModel) -> bytes:
    return message.model_dump_json().encode()


def decode(model: type[M], payload: bytes | str) -> M:
    """Raises `PayloadTooLarge` or pydantic's `ValidationError` (never anything else for bad bytes)."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(len(payload))
    return model.model_validate_json(payload)
