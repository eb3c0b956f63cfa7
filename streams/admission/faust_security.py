"""The Kafka security settings as Faust's public `broker_credentials` option.

Faust hands `broker_credentials` to every client it builds (worker consumer, producer, admin)
through its aiokafka driver, so the admission app authenticates and encrypts like every other
framegate client (`schemas.kafka_security`).
"""

from __future__ import annotations

from typing import Any

import faust

from schemas.kafka_security import KafkaSecurity
from schemas.settings import Settings


def faust_credentials(security: KafkaSecurity) -> faust.SASLCredentials | faust.SSLCredentials | None:
    """Faust credentials for `security`; None for plaintext (Faust's own default)."""
    security.require_consistent()
    if security.sasl:
        return faust.SASLCredentials(
            username=security.username,
            password=security.resolved_password(),
            mechanism=security.sasl_mechanism,
            # with a context Faust speaks SASL_SSL, without it SASL_PLAINTEXT
            ssl_context=security.ssl_context() if security.tls else None,
        )
    if security.tls:
        return faust.SSLCredentials(security.ssl_context())
    return None


def faust_security_options(settings: Settings) -> dict[str, Any]:
    """App options that carry the settings' Kafka security (empty for plaintext)."""
    credentials = faust_credentials(settings.kafka_security)
    return {} if credentials is None else {"broker_credentials": credentials}
