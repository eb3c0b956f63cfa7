"""docs/producers/schemas/*.schema.json: the JSON Schema of every wire message, for download."""

from __future__ import annotations

import json

from schemas.export import WIRE_MESSAGES, json_schema

FOLDER = "producers/schemas"


def render() -> dict[str, str]:
    """page path (under docs/) -> content."""
    return {
        f"{FOLDER}/{name}.schema.json": json.dumps(json_schema(model), indent=2, sort_keys=True) + "\n"
        for name, model in WIRE_MESSAGES.items()
    }
