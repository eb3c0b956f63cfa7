"""compose/ checked statically (no Docker engine here): the files parse, every framegate service
runs a real CLI command with real settings, and the addresses line up with the infrastructure."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from typer.testing import CliRunner

from schemas.enums import RouteLane
from schemas.settings import Settings
from streams.cli import app

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_DIR = ROOT / "compose"
COMPOSE = yaml.safe_load((COMPOSE_DIR / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
PROMETHEUS = yaml.safe_load((COMPOSE_DIR / "prometheus.yml").read_text())
FRAMEGATE_SERVICES = {name: svc for name, svc in SERVICES.items() if "build" in svc}
LONG_RUNNING = {name: svc for name, svc in FRAMEGATE_SERVICES.items() if svc.get("restart") != "no"}
#: Settings field of each service's /metrics port.
METRICS_PORT_FIELDS = (
    "admission_web_port",
    "lane_metrics_port",
    "audit_metrics_port",
    "gateway_port",
)


def env_file_vars() -> dict[str, str]:
    found: dict[str, str] = {}
    for svc in FRAMEGATE_SERVICES.values():
        for name in svc["env_file"]:
            for line in (COMPOSE_DIR / name).read_text().splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    key, _, value = line.partition("=")
                    found[key.strip()] = value.strip()
    return found


def service_env(name: str) -> dict[str, str]:
    return {
        **env_file_vars(),
        **{k: str(v) for k, v in (SERVICES[name].get("environment") or {}).items()},
    }


def service_settings(name: str, tmp_path: Path) -> Settings:
    """The service's settings as pydantic-settings would read them (JSON lists included)."""
    env = tmp_path / f"{name}.env"
    env.write_text("".join(f"{k}={v}\n" for k, v in service_env(name).items()))
    return Settings(_env_file=env)  # type: ignore[call-arg]


def test_expected_services_exist() -> None:
    for infra in ("kafka", "clickhouse", "grafana", "prometheus"):
        assert infra in SERVICES
    commands = {tuple(svc["command"]) for svc in LONG_RUNNING.values()}
    assert ("framegate", "admission") in commands
    assert ("framegate", "audit-sink") in commands
    assert ("framegate", "gateway") in commands
    for lane in RouteLane:
        assert ("framegate", "lane", "run", lane.value) in commands, f"no worker service for {lane}"


@pytest.mark.parametrize("name", sorted(FRAMEGATE_SERVICES))
def test_every_service_command_exists_in_the_cli(name: str) -> None:
    command = FRAMEGATE_SERVICES[name]["command"]
    assert command[0] == "framegate"
    result = CliRunner().invoke(app, [*command[1:], "--help"])
    assert result.exit_code == 0, (
        f"{name}: `{' '.join(command)}` is not a CLI command:\n{result.output}"
    )
    assert "Usage" in result.output


def test_every_framegate_variable_is_a_real_setting() -> None:
    fields = set(Settings.model_fields)
    names = set(env_file_vars())
    for svc in SERVICES.values():
        names |= {k for k in (svc.get("environment") or {}) if k.startswith("FRAMEGATE_")}
    for name in sorted(names):
        assert name.startswith("FRAMEGATE_"), name
        assert name.removeprefix("FRAMEGATE_").lower() in fields, (
            f"{name} is not a field of Settings"
        )


@pytest.mark.parametrize("name", sorted(FRAMEGATE_SERVICES))
def test_every_service_environment_validates(name: str, tmp_path: Path) -> None:
    settings = service_settings(name, tmp_path)
    assert settings.broker_profile == "kafka"
    assert settings.bind_host == "0.0.0.0"  # reachable by Prometheus inside the compose network


def test_kafka_is_kraft_and_matches_the_bootstrap(tmp_path: Path) -> None:
    kafka = SERVICES["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert "controller" in env["KAFKA_PROCESS_ROLES"] and "broker" in env["KAFKA_PROCESS_ROLES"]
    assert "ZOOKEEPER" not in json.dumps(env).upper()
    advertised = {urlparse(u).netloc for u in env["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    for name in FRAMEGATE_SERVICES:
        settings = service_settings(name, tmp_path)
        for server in settings.kafka_bootstrap.split(","):
            assert server in advertised, (
                f"{name} bootstraps from {server}, Kafka advertises {advertised}"
            )
            assert server.split(":")[0] in ("kafka", kafka.get("hostname"))
        assert settings.broker.name == "kafka"
        assert "kafka" in FRAMEGATE_SERVICES[name]["depends_on"]


def test_clickhouse_dsn_points_at_the_clickhouse_http_port(tmp_path: Path) -> None:
    clickhouse = SERVICES["clickhouse"]
    assert clickhouse["image"].startswith("clickhouse/clickhouse-server")
    settings = service_settings("audit-sink", tmp_path)
    dsn = urlparse(settings.resolved_clickhouse_dsn)
    assert dsn.scheme == "http" and dsn.hostname == "clickhouse" and dsn.port == 8123
    env = clickhouse["environment"]
    assert (dsn.username, dsn.password) == (env["CLICKHOUSE_USER"], env["CLICKHOUSE_PASSWORD"])
    assert dsn.path.strip("/") == settings.audit_database == env["CLICKHOUSE_DB"]
    assert "8123" in json.dumps(clickhouse["healthcheck"])
    assert "clickhouse" in FRAMEGATE_SERVICES["audit-sink"]["depends_on"]


def test_lane_workers_reserve_an_nvidia_gpu() -> None:
    for name, svc in LONG_RUNNING.items():
        if svc["command"][1] != "lane":
            assert "deploy" not in svc, f"{name} needs no GPU"
            continue
        devices = svc["deploy"]["resources"]["reservations"]["devices"]
        assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices), name


def test_prometheus_scrapes_every_service_metrics_port(tmp_path: Path) -> None:
    targets = {
        t
        for job in PROMETHEUS["scrape_configs"]
        for sc in job["static_configs"]
        for t in sc["targets"]
    }
    expected = set()
    for name in LONG_RUNNING:
        settings = service_settings(name, tmp_path)
        ports = [
            getattr(settings, f)
            for f in METRICS_PORT_FIELDS
            if f"FRAMEGATE_{f.upper()}" in service_env(name)
        ]
        assert len(ports) == 1 and ports[0], f"{name} sets no metrics port"
        expected.add(f"{name}:{ports[0]}")
    assert targets == expected


def _grafana_mounts() -> dict[str, Path]:
    """container path -> host path (relative to compose/)."""
    mounts = {}
    for volume in SERVICES["grafana"]["volumes"]:
        host, container, *_ = volume.split(":")
        if host.startswith("."):
            mounts[container] = (COMPOSE_DIR / host).resolve()
    return mounts


def test_grafana_provisions_the_clickhouse_plugin_and_dashboards() -> None:
    grafana = SERVICES["grafana"]
    assert "grafana-clickhouse-datasource" in grafana["environment"]["GF_INSTALL_PLUGINS"]
    mounts = _grafana_mounts()
    for host in mounts.values():
        assert host.exists(), f"grafana mounts missing {host}"
    datasources_dir = mounts["/etc/grafana/provisioning/datasources"]
    datasource_uids = set()
    for file in datasources_dir.glob("*.y*ml"):
        text = file.read_text()
        for var in re.findall(r"\$\{(\w+)\}", text):
            assert var in grafana["environment"], (
                f"{file.name} needs {var} in grafana's environment"
            )
        for ds in yaml.safe_load(text)["datasources"]:
            assert ds["type"] == "grafana-clickhouse-datasource"
            assert ds["jsonData"]["port"] == 8123
            datasource_uids.add(ds["uid"])
    providers_dir = mounts["/etc/grafana/provisioning/dashboards"]
    dashboards = []
    for file in providers_dir.glob("*.y*ml"):
        for provider in yaml.safe_load(file.read_text())["providers"]:
            host_dir = mounts[provider["options"]["path"]]
            dashboards += sorted(host_dir.glob("*.json"))
    assert dashboards, "no provisioned dashboard file"
    for dashboard in dashboards:
        content = json.loads(dashboard.read_text())
        used = _clickhouse_datasource_uids(content)
        assert content["panels"] and used, f"{dashboard.name} has no ClickHouse panels"
        assert used <= datasource_uids, f"{dashboard.name} uses unprovisioned datasources {used}"


def _clickhouse_datasource_uids(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ds = node.get("datasource")
        if isinstance(ds, dict) and ds.get("type") == "grafana-clickhouse-datasource":
            found.add(str(ds.get("uid")))
        for value in node.values():
            found |= _clickhouse_datasource_uids(value)
    elif isinstance(node, list):
        for value in node:
            found |= _clickhouse_datasource_uids(value)
    return found


def test_dockerfile_pins_torch_with_a_cuda_build_arg() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "TORCH_VERSION=2.13.0" in dockerfile and "ARG TORCH_INDEX_URL" in dockerfile
    for svc in FRAMEGATE_SERVICES.values():
        assert (COMPOSE_DIR / svc["build"]["context"] / svc["build"]["dockerfile"]).is_file()
        assert "TORCH_INDEX_URL" in svc["build"]["args"]


def test_only_loopback_ports_are_published() -> None:
    for name, svc in SERVICES.items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
