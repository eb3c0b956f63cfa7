"""How every framegate Kafka client authenticates and encrypts: one settings group, three renderings.

`KafkaSecurity` is the group (env `FRAMEGATE_KAFKA_SECURITY__<FIELD>`); it renders itself as
aiokafka keyword arguments (`aiokafka_kwargs`), as librdkafka properties (`librdkafka_properties`,
for kcat and confluent-kafka) and, in `streams.admission.faust_security`, as Faust's
`broker_credentials`. A password is a `SecretStr` read from the environment or from a file; it
is never a command-line argument and never appears in a repr or a log line.

A group that does not hold together (a SASL protocol without a mechanism or a user) or names a
file that is missing or unreadable fails when a client is built, before any connection, with one
line naming the setting (`KafkaSecurityError`); a process that builds no Kafka client (a report,
a model build) is not stopped by it.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from schemas.errors import KafkaSecurityError

Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
Mechanism = Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"]

ENV_PREFIX = "FRAMEGATE_KAFKA_SECURITY__"
SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
TLS_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})


def setting_name(field: str) -> str:
    """The environment variable of a field of the group."""
    return f"{ENV_PREFIX}{field.upper()}"


class KafkaSecurity(BaseModel):
    """Transport security and identity of a Kafka client (default: plaintext, anonymous)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    protocol: Protocol = Field(default="PLAINTEXT", description="Kafka `security.protocol`.")
    sasl_mechanism: Mechanism | None = Field(
        default=None, description="Required with SASL_PLAINTEXT / SASL_SSL."
    )
    username: str | None = Field(default=None, description="SASL principal of this service.")
    password: SecretStr | None = Field(
        default=None, description="SASL password (environment); prefer password_file."
    )
    password_file: Path | None = Field(
        default=None, description="File holding the SASL password (first line; a mounted secret)."
    )
    ca_file: Path | None = Field(
        default=None, description="PEM CA bundle that signed the brokers' certificates; "
        "None: the system trust store.",
    )
    cert_file: Path | None = Field(default=None, description="PEM client certificate (mutual TLS).")
    key_file: Path | None = Field(default=None, description="PEM private key of cert_file.")
    check_hostname: bool = Field(
        default=True, description="Verify that a broker's certificate names the host dialled."
    )

    @property
    def sasl(self) -> bool:
        return self.protocol in SASL_PROTOCOLS

    @property
    def tls(self) -> bool:
        return self.protocol in TLS_PROTOCOLS

    def resolved_password(self) -> str:
        """The SASL password, from password_file when set, else from password."""
        if self.password_file is not None:
            try:
                text = self.password_file.expanduser().read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise KafkaSecurityError(
                    f"{setting_name('password_file')}: cannot read {self.password_file}: "
                    f"{getattr(exc, 'strerror', None) or type(exc).__name__}"
                ) from None
            secret = (text.splitlines() or [""])[0]
            if not secret:
                raise KafkaSecurityError(
                    f"{setting_name('password_file')}: {self.password_file} is empty"
                )
            return secret
        if self.password is None:
            raise KafkaSecurityError(f"{setting_name('password')} is not set")
        return self.password.get_secret_value()

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context: the CA (or system store), the client pair, hostname check."""
        from aiokafka.helpers import create_ssl_context

        for field in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, field)
            if path is not None and not path.expanduser().is_file():
                raise KafkaSecurityError(f"{setting_name(field)}: no such file {path}")
        try:
            context = create_ssl_context(
                cafile=_str(self.ca_file), certfile=_str(self.cert_file), keyfile=_str(self.key_file)
            )
        except (OSError, ssl.SSLError) as exc:
            raise KafkaSecurityError(
                f"{ENV_PREFIX}CA_FILE/CERT_FILE/KEY_FILE: cannot load: {_reason(exc)}"
            ) from None
        context.check_hostname = self.check_hostname
        return context

    def require_consistent(self) -> None:
        """Raise `KafkaSecurityError` if the fields do not hold together (no file is read)."""
        problem = structural_problem(self)
        if problem is not None:
            raise KafkaSecurityError(problem)

    def check_usable(self) -> None:
        """Raise `KafkaSecurityError` now if no client could be built from the group (a service
        that builds its clients later, in the background, calls this before it starts)."""
        self.aiokafka_kwargs()

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer / AIOKafkaConsumer / AIOKafkaAdminClient."""
        self.require_consistent()
        kwargs: dict[str, Any] = {"security_protocol": self.protocol}
        if self.sasl:
            kwargs.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.username,
                sasl_plain_password=self.resolved_password(),
            )
        if self.tls:
            kwargs["ssl_context"] = self.ssl_context()
        return kwargs

    def librdkafka_properties(self) -> dict[str, str]:
        """librdkafka configuration properties (kcat `-X`, confluent-kafka config dict).

        The password is included: callers write it to a file only the caller can read, never
        to an argument list (`streams.local_stack.kcat`).
        """
        self.require_consistent()
        props = {"security.protocol": self.protocol.lower()}
        if self.sasl:
            props["sasl.mechanisms"] = str(self.sasl_mechanism)
            props["sasl.username"] = str(self.username)
            props["sasl.password"] = self.resolved_password()
        if self.tls:
            for field, name in (("ca_file", "ssl.ca.location"),
                                ("cert_file", "ssl.certificate.location"),
                                ("key_file", "ssl.key.location")):
                path = getattr(self, field)
                if path is not None:
                    if not path.expanduser().is_file():
                        raise KafkaSecurityError(f"{setting_name(field)}: no such file {path}")
                    props[name] = str(path.expanduser())
            props["ssl.endpoint.identification.algorithm"] = (
                "https" if self.check_hostname else "none"
            )
        return props


def structural_problem(security: KafkaSecurity) -> str | None:
    """What is inconsistent in the group, in one line naming the setting; None when sound."""
    if security.sasl:
        if security.sasl_mechanism is None:
            return f"{setting_name('sasl_mechanism')} is required with protocol {security.protocol}"
        if not security.username:
            return f"{setting_name('username')} is required with protocol {security.protocol}"
        if security.password is None and security.password_file is None:
            return (f"{setting_name('password_file')} or {setting_name('password')} is required "
                    f"with protocol {security.protocol}")
    elif security.sasl_mechanism is not None:
        return (f"{setting_name('sasl_mechanism')} is set but protocol {security.protocol} "
                "does not use SASL (use SASL_PLAINTEXT or SASL_SSL)")
    if not security.tls and any((security.ca_file, security.cert_file, security.key_file)):
        return (f"{ENV_PREFIX}CA_FILE/CERT_FILE/KEY_FILE are set but protocol "
                f"{security.protocol} does not use TLS (use SSL or SASL_SSL)")
    if (security.cert_file is None) != (security.key_file is None):
        return f"{setting_name('cert_file')} and {setting_name('key_file')} go together"
    return None


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path.expanduser())


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
