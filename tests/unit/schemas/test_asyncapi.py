"""The AsyncAPI document is valid AsyncAPI 3.0 and describes the topics and messages in use.

The official AsyncAPI 3.0.0 JSON Schema is vendored from the `@asyncapi/specs` npm package
(tests/data/asyncapi/, Apache-2.0, LICENSE beside it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel

from schemas import ModelName
from schemas.asyncapi import asyncapi_document
from schemas.export import WIRE_MESSAGES
from schemas.topics import Topics
from tests import factories

SPEC = json.loads(
    (Path(__file__).parents[2] / "data" / "asyncapi" / "asyncapi-3.0.0.schema.json").read_text()
)


def _document(prefix: str = "framegate.") -> dict[str, Any]:
    # through JSON, as a consumer of the exported file sees it
    return json.loads(json.dumps(asyncapi_document(Topics(prefix))))


def test_document_is_valid_asyncapi_3() -> None:
    jsonschema.Draft7Validator.check_schema(SPEC)
    jsonschema.Draft7Validator(SPEC).validate(_document())


def test_the_official_schema_catches_a_broken_document() -> None:
    doc = _document()
    doc["operations"]["sendAcceptance"]["action"] = "publish"  # AsyncAPI 2 wording
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(SPEC).validate(doc)


def test_every_topic_with_messages_is_a_channel_under_the_prefix() -> None:
    topics = Topics("acme.")
    doc = _document("acme.")
    addresses = {channel["address"] for channel in doc["channels"].values()}
    lanes = {name for name in topics.partitions() if ".lane." in name}
    internal = {topics.audit_deadletter, topics.admission_snapshots}  # no producer contract
    expected = (set(topics.partitions()) - lanes - internal) | {"acme.lane.{lane}"}
    assert addresses == expected
    for channel in doc["channels"].values():
        address = channel["address"].replace("{lane}", "shared")
        assert channel["bindings"]["kafka"]["partitions"] == topics.partitions()[address]


def test_every_wire_message_has_its_payload_schema() -> None:
    doc = _document()
    assert set(doc["components"]["messages"]) == set(WIRE_MESSAGES)
    assert {"GenerationRequest"} == {
        ref["$ref"].rsplit("/", 1)[-1]
        for ref in doc["operations"]["receiveGenerationRequest"]["messages"]
    }


@pytest.mark.parametrize("message", factories.one_of_each(), ids=lambda m: type(m).__name__)
def test_real_messages_validate_against_the_documents_payloads(message: BaseModel) -> None:
    doc = _document()
    name = type(message).__name__
    payload = {"$ref": doc["components"]["messages"][name]["payload"]["$ref"], "components": doc["components"]}
    jsonschema.Draft202012Validator(payload).validate(json.loads(message.model_dump_json()))


def test_payload_rules_are_the_json_schema_rules() -> None:
    doc = _document()
    payload = {"$ref": "#/components/schemas/GenerationRequest", "components": doc["components"]}
    good = json.loads(factories.request(ModelName.phr00t).to_wire())
    jsonschema.Draft202012Validator(payload).validate(good)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(payload).validate({**good, "steps": 8})


def test_committed_document_is_current() -> None:
    committed = Path(__file__).parents[3] / "docs" / "framegate.asyncapi.json"
    assert json.loads(committed.read_text()) == _document(), (
        "docs/framegate.asyncapi.json is stale: `framegate schemas export` and copy it"
    )
