"""JSON Schema export validates real serialized messages; settings come from FRAMEGATE_*."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from pydantic import BaseModel

from schemas import ModelName, Topics
from schemas.asyncapi import ASYNCAPI_FILE
from schemas.broker_profile import BROKER_PROFILES
from schemas.export import WIRE_MESSAGES, export_schemas
from schemas.settings import Settings
from tests import factories


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    directory = tmp_path_factory.mktemp("schemas")
    paths = export_schemas(directory)
    assert {p.name for p in paths} == {f"{name}.schema.json" for name in WIRE_MESSAGES} | {
        ASYNCAPI_FILE
    }
    return {
        p.name.removesuffix(".schema.json"): json.loads(p.read_text())
        for p in paths
        if p.name != ASYNCAPI_FILE
    }


def validator(schema: dict[str, object]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("message", factories.one_of_each(), ids=lambda m: type(m).__name__)
def test_serialized_messages_validate(
    exported: dict[str, dict[str, object]], message: BaseModel
) -> None:
    validator(exported[type(message).__name__]).validate(json.loads(message.model_dump_json()))


def test_schema_catches_what_producers_get_wrong(exported: dict[str, dict[str, object]]) -> None:
    check = validator(exported["GenerationRequest"])
    good = json.loads(factories.request(ModelName.phr00t).to_wire())
    check.validate(good)
    for bad in (
        {**good, "model": "sora"},
        {**good, "steps": "4"},
        {**good, "extra": 1},
        {k: v for k, v in good.items() if k != "prompt"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            check.validate(bad)


def test_cli_export_writes_files(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from streams.cli import app

    result = CliRunner().invoke(app, ["schemas", "export", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").glob("*.schema.json"))) == len(WIRE_MESSAGES)
    assert (tmp_path / "out" / ASYNCAPI_FILE).is_file()


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FRAMEGATE_TOPIC_PREFIX", "acme.")
    monkeypatch.setenv("FRAMEGATE_BROKER_PROFILE", "kafka")
    monkeypatch.setenv("FRAMEGATE_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.topics.tasks_requested == "acme.tasks.requested"
    assert settings.broker.name == "kafka"
    assert settings.resolved_clickhouse_dsn == f"chdb://{tmp_path.resolve()}/clickhouse"
    monkeypatch.setenv("FRAMEGATE_CLICKHOUSE_DSN", "http://default:@ch:8123/framegate")
    assert Settings().resolved_clickhouse_dsn == "http://default:@ch:8123/framegate"


def test_invalid_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAMEGATE_BROKER_PROFILE", "rabbit")
    with pytest.raises(ValueError, match="broker_profile"):
        Settings()


def test_topic_names_and_partitions() -> None:
    topics = Topics()
    assert topics.lane("shared") == "framegate.lane.shared"
    counts = topics.partitions()
    assert counts["framegate.events.lane"] == 1
    # One request partition: admission's decision order (and so its replay) is total.
    assert counts["framegate.tasks.requested"] == 1
    assert all(counts[topics.lane(lane)] == 2 for lane in ("anisora", "phr00t", "shared"))
    assert set(topics.audited()) <= set(counts)


def test_tansu_profile_holds_the_broker_workarounds() -> None:
    tansu = BROKER_PROFILES["tansu"]
    kwargs = tansu.consumer_kwargs("127.0.0.1:1", "g")
    assert kwargs["session_timeout_ms"] <= 6000 and kwargs["heartbeat_interval_ms"] <= 1000
    assert kwargs["fetch_max_wait_ms"] <= 20
    assert kwargs["enable_auto_commit"] is False
    assert tansu.producer_kwargs("127.0.0.1:1")["enable_idempotence"] is False
