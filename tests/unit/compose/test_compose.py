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


#: credentials.env is the operator's copy of the checked-in example (git-ignored).
CREDENTIALS = "credentials.env"


def env_file_names(svc: dict[str, Any]) -> list[str]:
    entries = svc.get("env_file") or []
    return [e if isinstance(e, str) else e["path"] for e in entries]


def read_env_file(name: str) -> dict[str, str]:
    """An env file; for a credentials file (`*credentials.env`), its checked-in example."""
    path = COMPOSE_DIR / (f"{name}.example" if name.endswith(CREDENTIALS) else name)
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            found[key.strip()] = value.strip()
    return found


def env_file_vars(name: str | None = None) -> dict[str, str]:
    """The variables of one service's env files (default: of every framegate service)."""
    found: dict[str, str] = {}
    for svc in [SERVICES[name]] if name else FRAMEGATE_SERVICES.values():
        for file in env_file_names(svc):
            found |= read_env_file(file)
    return found


def service_env(name: str) -> dict[str, str]:
    return {
        **env_file_vars(name),
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
    assert ("framegate", "audit-sink", "--no-migrate") in commands  # audit-migrate owns the schema
    assert ("framegate", "gateway") in commands
    for profile in ("gpu", "cpu"):
        in_profile = {
            tuple(svc["command"]) for svc in LONG_RUNNING.values() if profile in svc.get("profiles", [])
        }
        for lane in RouteLane:
            assert ("framegate", "lane", "run", lane.value) in in_profile, f"{profile}: no {lane}"


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
    assert all(k.startswith("FRAMEGATE_") for k in read_env_file("framegate.env"))
    names = {k for k in env_file_vars() if k.startswith("FRAMEGATE_")}
    for svc in SERVICES.values():
        names |= {k for k in (svc.get("environment") or {}) if k.startswith("FRAMEGATE_")}
    for name in sorted(names):
        assert name.startswith("FRAMEGATE_"), name
        field, _, nested = name.removeprefix("FRAMEGATE_").lower().partition("__")
        assert field in fields, f"{name} is not a field of Settings"
        if nested:  # a field of a settings group (env_nested_delimiter "__")
            group = Settings.model_fields[field].annotation
            assert nested in group.model_fields, f"{name} is not a field of {group}"  # type: ignore[union-attr]


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
    # the internal listener for the compose network, one for producers on the host; between
    # brokers, the loopback one (a single node: test_compose_security.py)
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "LOCAL"
    assert "INTERNAL://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    host = next(u for u in env["KAFKA_ADVERTISED_LISTENERS"].split(",") if u.startswith("HOST://"))
    assert f"{urlparse(host).hostname}:{urlparse(host).port}:{urlparse(host).port}" in kafka["ports"]
    for name in FRAMEGATE_SERVICES:
        settings = service_settings(name, tmp_path)
        for server in settings.kafka_bootstrap.split(","):
            assert server in advertised, (
                f"{name} bootstraps from {server}, Kafka advertises {advertised}"
            )
            assert server.split(":")[0] in ("kafka", kafka.get("hostname"))
        assert settings.broker.name == "kafka"
        if FRAMEGATE_SERVICES[name]["command"][1:3] not in (["models", "build-tiny"], ["audit", "migrate"]):
            assert "kafka" in FRAMEGATE_SERVICES[name]["depends_on"]  # the others use no broker


def test_kafka_log_is_on_the_volume_under_a_fixed_cluster_id() -> None:
    kafka = SERVICES["kafka"]
    env = kafka["environment"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in kafka["volumes"]}
    # the image writes its log to KAFKA_LOG_DIRS (default under /tmp); it must be the volume
    for log_dir in env["KAFKA_LOG_DIRS"].split(","):
        assert mounts.get(log_dir) in COMPOSE["volumes"], f"{log_dir} is not on a named volume"
    # a fixed id: a recreated container finds its formatted log instead of formatting a new one
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env["CLUSTER_ID"])


def test_clickhouse_dsn_points_at_the_clickhouse_http_port(tmp_path: Path) -> None:
    clickhouse = SERVICES["clickhouse"]
    assert clickhouse["image"].startswith("clickhouse/clickhouse-server")
    env = {**env_file_vars("clickhouse"), **clickhouse["environment"]}
    for name, user, password in (("audit-sink", "audit_sink", "CLICKHOUSE_AUDIT_SINK_PASSWORD"),
                                 ("audit-migrate", env["CLICKHOUSE_USER"], "CLICKHOUSE_PASSWORD")):
        settings = service_settings(name, tmp_path)
        dsn = urlparse(settings.resolved_clickhouse_dsn)
        assert dsn.scheme == "http" and dsn.hostname == "clickhouse" and dsn.port == 8123
        assert (dsn.username, dsn.password) == (user, env[password]), name
        assert dsn.path.strip("/") == settings.audit_database == env["CLICKHOUSE_DB"]
    assert "8123" in json.dumps(clickhouse["healthcheck"])
    assert "clickhouse" in FRAMEGATE_SERVICES["audit-sink"]["depends_on"]


def test_gpu_lanes_each_pin_their_own_configurable_gpu_on_the_cuda_image(tmp_path: Path) -> None:
    pinned: dict[str, str] = {}
    for name, svc in LONG_RUNNING.items():
        if "gpu" not in svc.get("profiles", []):
            assert "deploy" not in svc, f"{name} needs no GPU"
            continue
        assert svc["command"][1] == "lane"
        (device,) = svc["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia" and "gpu" in device["capabilities"], name
        assert "count" not in device, f"{name}: count puts every lane on GPU 0"
        (device_id,) = device["device_ids"]
        variable = re.fullmatch(r"\$\{(GPU_\w+):-(\d+)\}", device_id)
        assert variable, f"{name}: device id {device_id} is not configurable"
        pinned[name] = variable.group(2)
        assert svc["image"] == "framegate:cuda" and "/cu" in svc["build"]["args"]["TORCH_INDEX_URL"]
        assert service_settings(name, tmp_path).lane_device == "cuda"
    assert len(pinned) == len(RouteLane) and len(set(pinned.values())) == len(pinned), pinned


def test_cpu_lanes_run_tiny_models_on_the_cpu_image(tmp_path: Path) -> None:
    builder = SERVICES["tiny-models"]
    assert builder["command"][:3] == ["framegate", "models", "build-tiny"]
    built_into = next(v for v in builder["volumes"] if v.endswith(":" + builder["command"][3]))
    cpu_lanes = [n for n, s in LONG_RUNNING.items() if "cpu" in s.get("profiles", [])]
    assert len(cpu_lanes) == len(RouteLane)
    for name in cpu_lanes:
        svc = SERVICES[name]
        assert "/whl/cpu" in svc["build"]["args"]["TORCH_INDEX_URL"] and "deploy" not in svc
        settings = service_settings(name, tmp_path)
        assert settings.lane_device == "cpu"
        assert f"{built_into}:ro" in svc["volumes"]
        assert str(settings.model_dir) == builder["command"][3]
        assert svc["depends_on"]["tiny-models"]["condition"] == "service_completed_successfully"
        # answers to the gpu lane's name, so one Prometheus target list serves both profiles
        assert svc["networks"]["default"]["aliases"] == [name.removesuffix("-cpu")]


def test_prometheus_scrapes_every_service_metrics_port(tmp_path: Path) -> None:
    targets = {
        t
        for job in PROMETHEUS["scrape_configs"]
        for sc in job["static_configs"]
        for t in sc["targets"]
    }
    expected = set()
    for name in LONG_RUNNING:
        if "cpu" in LONG_RUNNING[name].get("profiles", []):
            continue  # same names as the gpu lanes (network aliases)
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


def test_grafana_provisions_both_datasources_and_every_dashboard() -> None:
    grafana = SERVICES["grafana"]
    assert "grafana-clickhouse-datasource" in grafana["environment"]["GF_INSTALL_PLUGINS"]
    grafana_env = {**env_file_vars("grafana"), **grafana["environment"]}
    mounts = _grafana_mounts()
    for host in mounts.values():
        assert host.exists(), f"grafana mounts missing {host}"
    datasources_dir = mounts["/etc/grafana/provisioning/datasources"]
    provisioned: dict[str, dict[str, Any]] = {}
    for file in datasources_dir.glob("*.y*ml"):
        text = file.read_text()
        for var in re.findall(r"\$\{(\w+)\}", text):
            assert var in grafana_env, f"{file.name} needs {var} in grafana's environment"
        for ds in yaml.safe_load(text)["datasources"]:
            provisioned[ds["type"]] = ds
    assert provisioned["grafana-clickhouse-datasource"]["jsonData"]["port"] == 8123
    prometheus_url = grafana_env["PROMETHEUS_URL"]
    assert provisioned["prometheus"]["url"] == "${PROMETHEUS_URL}"
    assert urlparse(prometheus_url).hostname in SERVICES
    assert sum(bool(ds.get("isDefault")) for ds in provisioned.values()) <= 1
    providers_dir = mounts["/etc/grafana/provisioning/dashboards"]
    dashboards = []
    for file in providers_dir.glob("*.y*ml"):
        for provider in yaml.safe_load(file.read_text())["providers"]:
            host_dir = mounts[provider["options"]["path"]]
            dashboards += sorted(host_dir.glob("*.json"))
    assert {d.name for d in dashboards} >= {"framegate-audit.json", "framegate-operations.json"}
    for dashboard in dashboards:
        content = json.loads(dashboard.read_text())
        variables = {v["name"]: v for v in content["templating"]["list"]}
        # portable: panels name their datasource through a variable of a provisioned type
        chosen = variables["datasource"]
        assert chosen["type"] == "datasource" and chosen["query"] in provisioned
        used = _datasources(content)
        assert content["panels"] and used, f"{dashboard.name} has no panels with a datasource"
        assert used == {(chosen["query"], "${datasource}")}, f"{dashboard.name} uses {used}"


def _datasources(node: Any) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    if isinstance(node, dict):
        ds = node.get("datasource")
        if isinstance(ds, dict):
            found.add((str(ds.get("type")), str(ds.get("uid"))))
        for value in node.values():
            found |= _datasources(value)
    elif isinstance(node, list):
        for value in node:
            found |= _datasources(value)
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


def _restarts(svc: dict[str, Any]) -> bool:
    return svc.get("restart") != "no"


def test_services_are_health_checked_and_start_in_order() -> None:
    for name, svc in SERVICES.items():
        if _restarts(svc):
            assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for dependency, spec in (svc.get("depends_on") or {}).items():
            wanted = (
                "service_healthy" if _restarts(SERVICES[dependency])
                else "service_completed_successfully"
            )
            assert spec["condition"] == wanted, f"{name} -> {dependency}: {spec}"
            needs = set(SERVICES[dependency].get("profiles", []))
            own = set(svc.get("profiles", []))
            assert not needs or (own and own <= needs), (
                f"{name} depends on {dependency}, which its profiles do not start"
            )


def test_framegate_healthchecks_probe_their_own_port(tmp_path: Path) -> None:
    for name, svc in LONG_RUNNING.items():
        test = svc["healthcheck"]["test"]
        assert test[:4] == ["CMD", "python", "-m", "streams.healthcheck"], name
        url = urlparse(test[4])
        assert url.hostname == "127.0.0.1"
        settings = service_settings(name, tmp_path)
        ports = {
            getattr(settings, f)
            for f in METRICS_PORT_FIELDS
            if f"FRAMEGATE_{f.upper()}" in service_env(name)
        }
        assert ports == {url.port}, (name, ports, url.port)
    admission = SERVICES["admission"]["healthcheck"]["test"]
    assert admission[5:] == ["--gauge", "framegate_admission_ready"]


def test_credentials_live_only_in_the_env_file() -> None:
    secret = re.compile(r"PASSWORD|SECRET|TOKEN|://[^/@\s]+:[^/@\s]+@", re.IGNORECASE)

    def credential(key: str, value: str) -> bool:
        # a *_FILE / *_LOCATION setting names where a secret is mounted, it holds none
        mounted = key.endswith(("_FILE", "_LOCATION")) and value.startswith("/run/secrets/")
        return not mounted and bool(secret.search(f"{key}={value}"))

    for name, svc in SERVICES.items():
        for key, value in (svc.get("environment") or {}).items():
            assert not credential(key, str(value)), f"{name}: {key} belongs in {CREDENTIALS}"
    files = {f for svc in SERVICES.values() for f in env_file_names(svc)}
    for file in {f for f in files if not f.endswith(CREDENTIALS)}:
        held = [k for k, v in read_env_file(file).items() if credential(k, v)]
        assert not held, f"{file} holds a credential: {held}"
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    for file in {f for f in files if f.endswith(CREDENTIALS)}:
        assert any(credential(k, v) for k, v in read_env_file(file).items()), file
        assert f"compose/{file}" in ignored, file
    for name in ("clickhouse", "grafana", "audit-sink", "audit-migrate"):
        assert any(f.endswith(CREDENTIALS) for f in env_file_names(SERVICES[name])), name
