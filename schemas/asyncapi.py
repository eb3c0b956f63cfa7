"""The Kafka contract as an AsyncAPI 3.0 document, built from the wire models and `Topics`.

The document describes framegate as one application: it *receives* `GenerationRequest`s on
`tasks.requested` and *sends* everything else. Payload schemas are the wire models' own JSON
Schemas (the same the `*.schema.json` files hold), with their definitions moved under
`components/schemas` so every `$ref` resolves inside the one document.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from schemas.decisions import AdmissionDecision
from schemas.enums import RouteLane
from schemas.envelope import SCHEMA_VERSION
from schemas.lane import LaneEvent
from schemas.memory import MemoryDiagnosticEvent
from schemas.requests import GenerationRequest
from schemas.tasks import TaskEvent
from schemas.topics import Topics

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
ASYNCAPI_FILE = "framegate.asyncapi.json"
_REF = "#/components/schemas/{model}"


def _payload_schemas(models: list[type[BaseModel]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(mode="serialization", ref_template=_REF)
        for name, sub in schema.pop("$defs", {}).items():
            found.setdefault(name, sub)
        found[model.__name__] = schema
    return found


def _message(model: type[BaseModel], key: str, summary: str) -> dict[str, Any]:
    return {
        "name": model.__name__,
        "title": model.__name__,
        "summary": summary,
        "contentType": "application/json",
        "payload": {"$ref": _REF.format(model=model.__name__)},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": key},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _channel(address: str, partitions: int, messages: list[str], description: str,
             **extra: Any) -> dict[str, Any]:
    return {
        "address": address,
        "description": description,
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
        "bindings": {
            "kafka": {
                "topic": address,
                "partitions": partitions,
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
        **extra,
    }


def _operation(action: str, channel: str, messages: list[str], summary: str) -> dict[str, Any]:
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "summary": summary,
        "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in messages],
    }


def asyncapi_document(topics: Topics | None = None, bootstrap: str = "127.0.0.1:19092") -> dict[str, Any]:
    """The AsyncAPI 3.0 document for topic names under `topics.prefix`."""
    topics = topics or Topics()
    partitions = topics.partitions()
    lane_address = f"{topics.prefix}lane.{{lane}}"
    lane_partitions = partitions[topics.lane(RouteLane.shared)]
    decision_both = ["AdmissionDecision"]
    channels = {
        "tasksRequested": _channel(
            topics.tasks_requested, partitions[topics.tasks_requested], ["GenerationRequest"],
            "Producers publish requests here, keyed by task_id (UTF-8 JSON, at most 64 KiB). "
            "Re-sending a decided task_id gets its original decision again.",
        ),
        "tasksAccepted": _channel(
            topics.tasks_accepted, partitions[topics.tasks_accepted], decision_both,
            "Admission's accepted decisions (outcome=accepted), keyed by task_id.",
        ),
        "tasksRejected": _channel(
            topics.tasks_rejected, partitions[topics.tasks_rejected], decision_both,
            "Admission's rejections (outcome=rejected, an RFC 9457 problem), keyed by task_id.",
        ),
        "laneWork": _channel(
            lane_address, lane_partitions, decision_both,
            "Accepted work items for one GPU lane's consumer group, keyed by task_id.",
            parameters={
                "lane": {
                    "enum": [lane.value for lane in RouteLane],
                    "description": "A model's dedicated lane, or the shared fallback lane.",
                }
            },
        ),
        "eventsTask": _channel(
            topics.events_task, partitions[topics.events_task], ["TaskEvent"],
            "Task status transitions (pending -> processing -> done | failed), keyed by task_id.",
        ),
        "eventsLane": _channel(
            topics.events_lane, partitions[topics.events_lane], ["LaneEvent"],
            "Lane heartbeats and routing-mode changes, keyed by lane.",
        ),
        "eventsMemory": _channel(
            topics.events_memory, partitions[topics.events_memory], ["MemoryDiagnosticEvent"],
            "GPU memory diagnostics and queue events, keyed by lane.",
        ),
    }
    operations = {
        "receiveGenerationRequest": _operation(
            "receive", "tasksRequested", ["GenerationRequest"],
            "Admission reads requests (producers send them).",
        ),
        "sendAcceptance": _operation(
            "send", "tasksAccepted", decision_both, "Admission publishes each acceptance."
        ),
        "sendRejection": _operation(
            "send", "tasksRejected", decision_both, "Admission publishes each rejection."
        ),
        "sendLaneWork": _operation(
            "send", "laneWork", decision_both,
            "Admission hands accepted work to a lane; the lane's workers consume it.",
        ),
        "sendTaskEvent": _operation(
            "send", "eventsTask", ["TaskEvent"],
            "Admission (pending, failed on rejection) and lane workers (processing, done, failed).",
        ),
        "sendLaneEvent": _operation(
            "send", "eventsLane", ["LaneEvent"],
            "Lane workers (heartbeats) and `framegate lane degrade|restore` (lane_state).",
        ),
        "sendMemoryEvent": _operation(
            "send", "eventsMemory", ["MemoryDiagnosticEvent"],
            "Lane workers (memory_cleanup, memory_post_generation) and admission "
            "(fallback_activated, queue_overloaded, queue_timeout).",
        ),
    }
    messages = {
        "GenerationRequest": _message(
            GenerationRequest, "task_id", "A video generation request."
        ),
        "AdmissionDecision": _message(
            AdmissionDecision, "task_id", "Accepted (with lane) or rejected (a problem document)."
        ),
        "TaskEvent": _message(TaskEvent, "task_id", "One task status transition."),
        "LaneEvent": _message(LaneEvent, "lane", "A lane heartbeat or routing-mode change."),
        "MemoryDiagnosticEvent": _message(
            MemoryDiagnosticEvent, "lane", "A GPU memory or queue diagnostic."
        ),
    }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "framegate Kafka contract",
            "version": str(SCHEMA_VERSION),
            "description": "Admission control for heavy video generation: requests in, "
            "decisions, lane work and events out. Generated by `framegate schemas export`.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": bootstrap,
                "protocol": "kafka",
                "description": "The local development broker (`framegate broker`).",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": _payload_schemas(
                [GenerationRequest, AdmissionDecision, TaskEvent, LaneEvent, MemoryDiagnosticEvent]
            ),
        },
    }
