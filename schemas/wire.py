"""Bytes <-> messages. JSON on the wire, UTF-8, size-limited before parsing."""

from typing import TypeVar

from pydantic import BaseModel

from schemas.limits import MAX_PAYLOAD_BYTES

M = TypeVar("M", bound=BaseModel)


class PayloadTooLarge(ValueError):
    def __init__(self, size: int) -> None:
        super().__init__(f"payload of {size} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit")
        self.size = size


def encode(message: BaseModel) -> bytes:
    return message.model_dump_json().encode()


def decode(model: type[M], payload: bytes | str) -> M:
    """Raises `PayloadTooLarge` or pydantic's `ValidationError` (never anything else for bad bytes)."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(len(payload))
    return model.model_validate_json(payload)
