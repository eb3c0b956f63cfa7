"""compose/ is not an open door: SASL_SSL listeners, one SCRAM principal per service, ACLs that
are the ownership table's (generated, compared here), development certificates that verify, and
ClickHouse users whose grants follow the code. Static: no Docker engine."""

from __future__ import annotations

import os
import stat
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlparse

import pytest

from schemas.enums import RouteLane
from schemas.kafka_acls import acl_lines, reference_files
from schemas.kafka_security import structural_problem
from schemas.topic_ownership import LANE_ROLES, PRINCIPALS, Role, ownership
from schemas.topics import Topics
from streams.audit.rows import TABLE_COLUMNS
from tests.unit.compose.test_compose import (
    COMPOSE,
    COMPOSE_DIR,
    FRAMEGATE_SERVICES,
    SERVICES,
    env_file_vars,
    read_env_file,
    service_env,
    service_settings,
)

#: framegate services that build no Kafka client
NO_KAFKA = {"tiny-models", "audit-migrate"}
KAFKA_CLIENTS = {name: svc for name, svc in FRAMEGATE_SERVICES.items() if name not in NO_KAFKA}
KAFKA_ENV = SERVICES["kafka"]["environment"]


def role_of_command(command: list[str]) -> Role:
    verb = command[1:]
    if verb[:2] == ["lane", "run"]:
        return LANE_ROLES[RouteLane(verb[2])]
    return {("admission",): Role.admission, ("audit-sink",): Role.audit_sink,
            ("gateway",): Role.gateway, ("topics", "create"): Role.topics_admin,
            }[tuple(v for v in verb if not v.startswith("--"))]


def secrets_of(name: str) -> dict[str, str]:
    """target -> source of a service's compose secrets."""
    found = {}
    for entry in SERVICES[name].get("secrets", []):
        if isinstance(entry, str):
            found[entry] = entry
        else:
            found[entry.get("target", entry["source"])] = entry["source"]
    return found


def test_acl_files_are_the_ownership_tables() -> None:
    for path, text in reference_files(COMPOSE_DIR / "kafka").items():
        assert path.read_text() == text, (
            f"{path.name} differs from schemas/topic_ownership.py: run "
            "`python -m schemas.kafka_acls compose/kafka`")


def test_the_reference_files_use_the_services_own_names(tmp_path: Path) -> None:
    # the generated grants name the topics and groups the compose services really use
    settings = service_settings("admission", tmp_path)
    assert acl_lines(PRINCIPALS, settings.topics, settings.resolved_admission_app_id,
                     service_settings("audit-sink", tmp_path).audit_group_id) == [
        line for line in (COMPOSE_DIR / "kafka" / "acls.txt").read_text().splitlines()
        if not line.startswith("#")]


def test_least_privilege_grants() -> None:
    lines = set(acl_lines(PRINCIPALS, Topics(), "framegate.admission", "framegate-audit"))

    def may(principal: str, operation: str, topic: str) -> bool:
        return f"--add --allow-principal User:{principal} --operation {operation} --topic {topic}" in lines

    t = Topics()
    assert may("gateway", "Write", t.tasks_requested) and may("trusted-producer", "Write", t.tasks_requested)
    writers = {p for p in PRINCIPALS if may(p, "Write", t.tasks_requested)}
    assert writers == {"gateway", "trusted-producer"}  # no lane, sink or operator
    assert {p for p in PRINCIPALS if may(p, "Write", t.tasks_accepted)} == {"admission", "admission-standby"}
    assert {p for p in PRINCIPALS if may(p, "Write", t.events_lane)} == {
        "lane-anisora", "lane-phr00t", "lane-shared", "operator"}
    assert not may("lane-anisora", "Read", t.lane(RouteLane.phr00t))  # only its own lane
    assert not may("gateway", "Read", t.tasks_requested)
    assert not any(may("audit-sink", "Write", access.topic) for access in ownership(t))
    assert not any("--operation All" in line or "--cluster" in line for line in lines)


def test_every_kafka_client_service_is_its_own_principal(tmp_path: Path) -> None:
    seen: dict[str, str] = {}
    for name, svc in KAFKA_CLIENTS.items():
        settings = service_settings(name, tmp_path)
        security = settings.kafka_security
        assert structural_problem(security) is None, name
        assert (security.protocol, security.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512"), name
        assert security.check_hostname and security.password is None, name
        principal = str(security.username)
        assert PRINCIPALS[principal] is role_of_command(svc["command"]), name
        # the gpu and cpu twins of a lane answer to one name and never run together
        owner = name.removesuffix("-cpu")
        assert seen.setdefault(principal, owner) == owner, f"{name} shares {principal}"
        mounts = secrets_of(name)
        assert str(security.password_file) == "/run/secrets/kafka-password"
        assert mounts["kafka-password"] == f"kafka-{principal}", name
        assert str(security.ca_file) == "/run/secrets/kafka-ca.pem" and mounts["kafka-ca.pem"] == "kafka-ca"
        assert COMPOSE["secrets"][f"kafka-{principal}"]["file"] == f"./secrets/kafka-{principal}.password"
    external = set(PRINCIPALS) - set(seen)
    assert external == {"operator", "trusted-producer"}  # people and trusted producers, off compose


def test_kafka_init_creates_every_principal_through_the_loopback_listener() -> None:
    init = SERVICES["kafka-init"]
    assert init["network_mode"] == "service:kafka"
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert "./kafka:/kafka-init:ro" in init["volumes"]
    assert set(secrets_of("kafka-init")) == {f"kafka-{p}" for p in PRINCIPALS}
    script = (COMPOSE_DIR / "kafka" / "init.sh").read_text()
    assert "127.0.0.1:9094" in script and "SCRAM-SHA-512" in script
    assert subprocess.run(["sh", "-n", str(COMPOSE_DIR / "kafka" / "init.sh")], check=False).returncode == 0
    for name in KAFKA_CLIENTS:
        if name != "topics-init":
            assert "topics-init" in SERVICES[name]["depends_on"], name
    assert SERVICES["topics-init"]["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"


def test_only_loopback_listeners_are_plaintext() -> None:
    protocols = dict(item.split(":") for item in KAFKA_ENV["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    for listener in KAFKA_ENV["KAFKA_LISTENERS"].split(","):
        name, address = listener.split("://")
        if protocols[name] != "SASL_SSL":
            assert address.startswith("127.0.0.1:"), f"{name} is {protocols[name]} on {address}"
    assert KAFKA_ENV["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    assert KAFKA_ENV["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
    assert KAFKA_ENV["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert KAFKA_ENV["KAFKA_SUPER_USERS"] == "User:ANONYMOUS"  # the loopback listeners only
    assert KAFKA_ENV["KAFKA_CONTROLLER_QUORUM_VOTERS"].endswith("@127.0.0.1:9093")
    assert "127.0.0.1:9094" in SERVICES["kafka"]["healthcheck"]["test"][1]
    assert {s["source"] for s in SERVICES["kafka"]["secrets"]} == {"kafka-keystore", "kafka-ca"}


def test_make_dev_certs_makes_what_compose_mounts(tmp_path: Path) -> None:
    script = COMPOSE_DIR / "make-dev-certs.sh"
    assert os.access(script, os.X_OK)
    run = subprocess.run([str(script), str(tmp_path)], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    certs, secrets = tmp_path / "certs", tmp_path / "secrets"
    verify = subprocess.run(["openssl", "verify", "-CAfile", certs / "ca.pem", certs / "kafka.pem"],
                            capture_output=True, text=True, check=False)
    assert verify.returncode == 0, verify.stderr
    names = subprocess.run(["openssl", "x509", "-in", certs / "kafka.pem", "-noout", "-ext", "subjectAltName"],
                           capture_output=True, text=True, check=True).stdout
    for advertised in KAFKA_ENV["KAFKA_ADVERTISED_LISTENERS"].split(","):
        host = urlparse(advertised).hostname
        assert (f"DNS:{host}" in names) or (f"IP Address:{host}" in names), (host, names)
    assert "PRIVATE KEY" in (certs / "kafka.pem").read_text()
    for principal in PRINCIPALS:
        password = (secrets / f"kafka-{principal}.password").read_text().strip()
        assert len(password) >= 32 and password.isalnum()
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700 and stat.S_IMODE(certs.stat().st_mode) == 0o700
    assert stat.S_IMODE((certs / "ca.key").stat().st_mode) == 0o600
    before = {p.name: p.read_bytes() for p in secrets.iterdir()}
    subprocess.run([str(script), str(tmp_path)], capture_output=True, timeout=120, check=True)
    assert {p.name: p.read_bytes() for p in secrets.iterdir()} == before  # a rerun keeps them
    for source in COMPOSE["secrets"].values():
        relative = Path(source["file"]).relative_to(".")
        assert (tmp_path / relative).is_file(), f"compose mounts {relative}, the script makes none"


def _users() -> dict[str, ET.Element]:
    root = ET.parse(COMPOSE_DIR / "clickhouse" / "users.d" / "framegate-users.xml").getroot()
    users = root.find("users")
    assert users is not None
    return {user.tag: user for user in users}


def _grants(user: ET.Element) -> list[str]:
    return [str(q.text) for q in user.iterfind("grants/query")]


def test_clickhouse_sink_inserts_into_the_audit_tables_only(tmp_path: Path) -> None:
    database = service_settings("audit-sink", tmp_path).audit_database
    users = _users()
    assert set(users) == {"audit_sink", "analyst", "grafana"}
    assert sorted(_grants(users["audit_sink"])) == sorted(
        f"GRANT INSERT, SHOW COLUMNS ON {database}.{table}" for table in TABLE_COLUMNS)
    for reader in ("analyst", "grafana"):
        assert _grants(users[reader]) == [f"GRANT SELECT ON {database}.*"]
        assert users[reader].findtext("profile") == "framegate_read_only"
    mounted = [v for v in SERVICES["clickhouse"]["volumes"] if "users.d" in v]
    assert mounted == ["./clickhouse/users.d/framegate-users.xml:"
                       "/etc/clickhouse-server/users.d/framegate-users.xml:ro"]


def test_clickhouse_passwords_line_up(tmp_path: Path) -> None:
    clickhouse_env = env_file_vars("clickhouse")
    for user in _users().values():
        variable = user.find("password").get("from_env")  # type: ignore[union-attr]
        assert variable in clickhouse_env, variable
    sink = urlparse(service_settings("audit-sink", tmp_path).resolved_clickhouse_dsn)
    assert (sink.username, sink.password) == ("audit_sink", clickhouse_env["CLICKHOUSE_AUDIT_SINK_PASSWORD"])
    grafana = read_env_file("grafana.credentials.env")
    assert (grafana["CLICKHOUSE_USER"], grafana["CLICKHOUSE_PASSWORD"]) == (
        "grafana", clickhouse_env["CLICKHOUSE_GRAFANA_PASSWORD"])
    # the sink never holds the administrator's password, Grafana neither
    assert clickhouse_env["CLICKHOUSE_PASSWORD"] not in str(service_env("audit-sink"))
    assert clickhouse_env["CLICKHOUSE_PASSWORD"] not in str(env_file_vars("grafana"))


@pytest.mark.parametrize("name", sorted(KAFKA_CLIENTS))
def test_no_service_sees_another_principals_password(name: str) -> None:
    own = secrets_of(name)["kafka-password"]
    assert [s for s in secrets_of(name).values() if s.startswith("kafka-") and s != "kafka-ca"] == [own]
