"""`framegate schemas export DIR`: one JSON Schema file per wire message, and the AsyncAPI document."""

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.asyncapi import ASYNCAPI_FILE, asyncapi_document
from schemas.decisions import AdmissionDecision
from schemas.lane import LaneEvent
from schemas.memory import MemoryDiagnosticEvent
from schemas.requests import GenerationRequest
from schemas.tasks import TaskEvent
from schemas.topics import Topics

#: Message name -> model; the file is `<name>.schema.json`.
WIRE_MESSAGES: dict[str, type[BaseModel]] = {
    "GenerationRequest": GenerationRequest,
    "AdmissionDecision": AdmissionDecision,
    "TaskEvent": TaskEvent,
    "LaneEvent": LaneEvent,
    "MemoryDiagnosticEvent": MemoryDiagnosticEvent,
}


def json_schema(model: type[BaseModel]) -> dict[str, object]:
    schema = model.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://framegate.dev/schemas/{model.__name__}.schema.json"
    return schema


def export_schemas(directory: Path, topics: Topics | None = None) -> list[Path]:
    """Writes `<name>.schema.json` per wire message and `framegate.asyncapi.json` (topic names
    under `topics.prefix`); returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in WIRE_MESSAGES.items():
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(json_schema(model), indent=2, sort_keys=True) + "\n")
        written.append(path)
    path = directory / ASYNCAPI_FILE
    path.write_text(json.dumps(asyncapi_document(topics), indent=2) + "\n")
    written.append(path)
    return written
