"""The Kafka security group: its renderings for aiokafka, Faust and librdkafka, the one-line
errors of settings no client can be built from, and no secret in any repr."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from schemas.errors import KafkaSecurityError
from schemas.kafka_security import KafkaSecurity
from schemas.settings import Settings, load_settings, settings_error_line
from tests.tls_material import TlsMaterial, make_tls_material

SECRET = "pw-7f3c1b-never-printed"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    return make_tls_material(tmp_path_factory.mktemp("tls"))


def sasl(**extra: object) -> KafkaSecurity:
    fields: dict[str, object] = {"protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
                                 "username": "admission", "password": SecretStr(SECRET)}
    fields.update(extra)
    return KafkaSecurity.model_validate(fields)


def test_default_is_plaintext_and_anonymous() -> None:
    assert KafkaSecurity().aiokafka_kwargs() == {"security_protocol": "PLAINTEXT"}
    assert KafkaSecurity().librdkafka_properties() == {"security.protocol": "plaintext"}


def test_sasl_kwargs_carry_the_principal_and_the_password() -> None:
    assert sasl().aiokafka_kwargs() == {
        "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "admission", "sasl_plain_password": SECRET,
    }


def test_password_file_wins_and_only_its_first_line_counts(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-file\ntrailing\n")
    kwargs = sasl(password=None, password_file=secret).aiokafka_kwargs()
    assert kwargs["sasl_plain_password"] == "from-file"


def test_tls_context_verifies_the_broker_and_its_name(tls: TlsMaterial) -> None:
    security = KafkaSecurity(protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-256", username="u",
                             password=SecretStr(SECRET), ca_file=tls.ca)
    context = security.aiokafka_kwargs()["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    relaxed = KafkaSecurity(protocol="SSL", ca_file=tls.ca, check_hostname=False)
    assert relaxed.ssl_context().check_hostname is False


def test_client_certificate_is_loaded(tls: TlsMaterial) -> None:
    security = KafkaSecurity(protocol="SSL", ca_file=tls.ca, cert_file=tls.server_cert,
                             key_file=tls.server_key)
    assert security.aiokafka_kwargs()["security_protocol"] == "SSL"


def test_librdkafka_properties(tls: TlsMaterial) -> None:
    security = KafkaSecurity(protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-256", username="u",
                             password=SecretStr(SECRET), ca_file=tls.ca, cert_file=tls.server_cert,
                             key_file=tls.server_key)
    assert security.librdkafka_properties() == {
        "security.protocol": "sasl_ssl", "sasl.mechanisms": "SCRAM-SHA-256", "sasl.username": "u",
        "sasl.password": SECRET, "ssl.ca.location": str(tls.ca),
        "ssl.certificate.location": str(tls.server_cert), "ssl.key.location": str(tls.server_key),
        "ssl.endpoint.identification.algorithm": "https",
    }


@pytest.mark.parametrize(("fields", "names"), [
    ({"protocol": "SASL_SSL"}, "FRAMEGATE_KAFKA_SECURITY__SASL_MECHANISM"),
    ({"protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN"}, "FRAMEGATE_KAFKA_SECURITY__USERNAME"),
    ({"protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN", "username": "u"},
     "FRAMEGATE_KAFKA_SECURITY__PASSWORD_FILE"),
    ({"sasl_mechanism": "SCRAM-SHA-256"}, "FRAMEGATE_KAFKA_SECURITY__SASL_MECHANISM"),
    ({"ca_file": "/ca.pem"}, "CA_FILE"),
    ({"protocol": "SSL", "cert_file": "/c.pem"}, "FRAMEGATE_KAFKA_SECURITY__KEY_FILE"),
])
def test_inconsistent_groups_fail_before_any_client_is_built(fields: dict[str, str], names: str) -> None:
    settings = Settings(kafka_security=fields)  # type: ignore[arg-type]
    for build in (settings.kafka_security.aiokafka_kwargs,
                  settings.kafka_security.librdkafka_properties,
                  lambda: settings.broker.consumer_kwargs("h:1", None)):
        with pytest.raises(KafkaSecurityError) as caught:
            build()
        assert names in str(caught.value) and "\n" not in str(caught.value)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"PROTOCOL": "SASL_PLAINTEXT", "SASL_MECHANISM": "SCRAM-SHA-256",
                        "USERNAME": "audit-sink", "PASSWORD": SECRET}.items():
        monkeypatch.setenv(f"FRAMEGATE_KAFKA_SECURITY__{name}", value)
    settings = load_settings()
    assert settings.kafka_security.username == "audit-sink"
    assert settings.broker.consumer_kwargs("h:1", "g")["sasl_plain_password"] == SECRET


def test_an_invalid_value_is_reported_without_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAMEGATE_KAFKA_SECURITY__PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("FRAMEGATE_KAFKA_SECURITY__SASL_MECHANISM", "GSSAPI")
    monkeypatch.setenv("FRAMEGATE_KAFKA_SECURITY__PASSWORD", SECRET)
    with pytest.raises(ValidationError) as caught:
        load_settings()
    line = settings_error_line(caught.value)
    assert line.startswith("FRAMEGATE_KAFKA_SECURITY__SASL_MECHANISM") and SECRET not in line


@pytest.mark.parametrize("field", ["ca_file", "cert_file"])
def test_a_missing_file_is_one_line_before_any_connection(field: str, tls: TlsMaterial,
                                                          tmp_path: Path) -> None:
    files = {"ca_file": tls.ca, "cert_file": tls.server_cert, "key_file": tls.server_key}
    files[field] = tmp_path / "absent.pem"
    security = KafkaSecurity(protocol="SSL", **files)
    with pytest.raises(KafkaSecurityError, match=f"FRAMEGATE_KAFKA_SECURITY__{field.upper()}: no such file"):
        security.aiokafka_kwargs()
    with pytest.raises(KafkaSecurityError):
        security.librdkafka_properties()


def test_a_ca_file_that_is_no_certificate_is_one_line(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    with pytest.raises(KafkaSecurityError, match="cannot load") as caught:
        KafkaSecurity(protocol="SSL", ca_file=bogus).ssl_context()
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("kind", ["absent", "directory", "empty"])
def test_an_unreadable_password_file_is_one_line(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "password"
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.write_text("")
    with pytest.raises(KafkaSecurityError, match="FRAMEGATE_KAFKA_SECURITY__PASSWORD_FILE"):
        sasl(password=None, password_file=path).aiokafka_kwargs()


@given(st.text(min_size=4, alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"])))
def test_no_rendering_but_the_client_kwargs_shows_the_password(tail: str) -> None:
    secret = f"\u00a7pw\u00a7{tail}"  # a marker no repr holds by chance
    settings = Settings(kafka_security=sasl(password=SecretStr(secret)))
    for shown in (repr(settings), str(settings), settings.model_dump_json(),
                  repr(settings.kafka_security), repr(settings.broker)):
        assert secret not in shown
    assert settings.broker.producer_kwargs("h:1")["sasl_plain_password"] == secret
