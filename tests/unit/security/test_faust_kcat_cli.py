"""The security group as Faust credentials and as kcat's config file, and unusable security
settings reported by every command as one line with exit code 2 (before any connection)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import faust
import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import SecretStr

from schemas.kafka_security import KafkaSecurity
from schemas.settings import Settings
from streams.admission.faust_security import faust_credentials, faust_security_options
from streams.cli_failures import EXIT_USAGE
from streams.local_stack import kcat
from tests.tls_material import TlsMaterial, make_tls_material

ROOT = Path(__file__).parents[3]
SECRET = "pw-faust-91ab"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    return make_tls_material(tmp_path_factory.mktemp("tls"))


def scram(protocol: str = "SASL_PLAINTEXT", **extra: object) -> KafkaSecurity:
    return KafkaSecurity.model_validate({"protocol": protocol, "sasl_mechanism": "SCRAM-SHA-512",
                                         "username": "admission", "password": SecretStr(SECRET),
                                         **extra})


def test_plaintext_adds_no_faust_option() -> None:
    assert faust_security_options(Settings()) == {}


def test_faust_sasl_credentials_reach_its_aiokafka_clients() -> None:
    credentials = faust_credentials(scram())
    assert isinstance(credentials, faust.SASLCredentials)
    assert SECRET not in repr(credentials)
    auth = credentials_to_aiokafka_auth(credentials)
    assert auth["security_protocol"] == "SASL_PLAINTEXT"
    assert auth["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == ("admission", SECRET)


def test_faust_sasl_ssl_and_ssl(tls: TlsMaterial) -> None:
    sasl_ssl = credentials_to_aiokafka_auth(faust_credentials(scram("SASL_SSL", ca_file=tls.ca)))
    assert sasl_ssl["security_protocol"] == "SASL_SSL" and sasl_ssl["ssl_context"].check_hostname
    ssl_only = faust_credentials(KafkaSecurity(protocol="SSL", ca_file=tls.ca))
    assert isinstance(ssl_only, faust.SSLCredentials)
    assert credentials_to_aiokafka_auth(ssl_only)["security_protocol"] == "SSL"


def test_admission_app_carries_the_credentials(tmp_path: Path) -> None:
    from streams.admission.agent import build_app

    app, _service = build_app(Settings(kafka_security=scram(), data_dir=tmp_path))
    auth = credentials_to_aiokafka_auth(app.conf.broker_credentials)
    assert auth["sasl_plain_password"] == SECRET


def test_kcat_gets_a_private_config_file_not_arguments(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    pytest.importorskip("confluent_kafka")
    # a `kcat` on the PATH (never run: the command line and its config file are the subject)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    binary = bin_dir / "kcat"
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    argv, _env = kcat.kcat_command(["-L", "-b", "h:1"], tmp_path, {}, security=scram())
    assert argv[:2] == [str(binary), "-F"] and argv[3:] == ["-L", "-b", "h:1"]
    assert not any(SECRET in arg for arg in argv)
    config = Path(argv[2])
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    lines = config.read_text().splitlines()
    assert "security.protocol=sasl_plaintext" in lines and f"sasl.password={SECRET}" in lines
    plain, _env = kcat.kcat_command(["-L"], tmp_path, {})
    assert plain == [str(binary), "-L"]


def run(args: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT), "FRAMEGATE_DATA_DIR": str(tmp_path),
             "FRAMEGATE_KAFKA_BOOTSTRAP": "127.0.0.1:9", **env},
    )


MISCONFIGURED = {
    "missing CA file": ({"PROTOCOL": "SSL", "CA_FILE": "/nonexistent/ca.pem"},
                        "FRAMEGATE_KAFKA_SECURITY__CA_FILE: no such file"),
    "mechanism without credentials": ({"PROTOCOL": "SASL_SSL", "SASL_MECHANISM": "SCRAM-SHA-256"},
                                      "FRAMEGATE_KAFKA_SECURITY__USERNAME is required"),
    "unreadable password file": ({"PROTOCOL": "SASL_PLAINTEXT", "SASL_MECHANISM": "PLAIN",
                                  "USERNAME": "u", "PASSWORD_FILE": "/nonexistent/pw"},
                                 "FRAMEGATE_KAFKA_SECURITY__PASSWORD_FILE: cannot read"),
}
COMMANDS = {
    "topics create": ["-m", "streams.cli", "topics", "create"],
    "simulate --from-kafka": ["-m", "streams.cli", "simulate", "--from-kafka"],
    "lane restore": ["-m", "streams.cli", "lane", "restore", "anisora"],
    "lane worker": ["-m", "gpu_consumers", "lane", "anisora"],
    "gateway": ["-m", "streams.cli", "gateway", "--port", "9"],
    "admission": ["-m", "streams.cli", "admission"],
}


@pytest.mark.parametrize(("case", "command"), [
    ("missing CA file", "topics create"),
    ("mechanism without credentials", "simulate --from-kafka"),
    ("unreadable password file", "lane restore"),
    ("mechanism without credentials", "lane worker"),
    ("missing CA file", "gateway"),
    ("unreadable password file", "admission"),
])
def test_misconfiguration_is_one_line_and_exit_2(case: str, command: str, tmp_path: Path) -> None:
    fields, expected = MISCONFIGURED[case]
    env = {f"FRAMEGATE_KAFKA_SECURITY__{k}": v for k, v in fields.items()}
    result = run(COMMANDS[command], env, tmp_path)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == EXIT_USAGE, result.stderr
    assert len(lines) == 1 and expected in lines[0], result.stderr
