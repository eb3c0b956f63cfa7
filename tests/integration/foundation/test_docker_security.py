"""SASL_SSL with SCRAM-SHA-512 and least-privilege ACLs against Apache Kafka (testcontainers).

What tansu 0.6.0 cannot show (`test_broker_security.py`): a round trip over SASL and TLS, and
refusals for a wrong password, a CA that did not sign the broker, and a write the ACLs do not
grant. The broker is configured as compose/docker-compose.yml configures it. Skips cleanly where
no Docker engine answers (as on the development and CI machines).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAuthorizationFailedError
from pydantic import SecretStr

from schemas.broker_profile import BROKER_PROFILES, BrokerProfile
from schemas.kafka_acls import acl_lines
from schemas.kafka_security import KafkaSecurity
from schemas.topic_ownership import PRINCIPALS
from schemas.topics import Topics
from streams.local_stack.broker import free_port
from streams.local_stack.topics import create_topics
from tests import secured_clients
from tests.backends import docker_engine_answers
from tests.tls_material import TlsMaterial, make_tls_material

pytestmark = [
    pytest.mark.docker,
    pytest.mark.integration,
    pytest.mark.skipif(not docker_engine_answers(), reason="no Docker engine answers here"),
]
IMAGE = "apache/kafka:4.0.0"
BOUND_S = 30.0
PASSWORDS = {name: f"pw{uuid.uuid4().hex}" for name in ("topics-init", "gateway", "admission")}
TOPICS = Topics(prefix="framegate.")


@dataclass(frozen=True)
class SecuredKafka:
    bootstrap: str
    tls: TlsMaterial

    def security(self, principal: str, password: str | None = None, ca: Path | None = None) -> KafkaSecurity:
        return KafkaSecurity(protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", username=principal,
                             password=SecretStr(password or PASSWORDS[principal]),
                             ca_file=ca or self.tls.ca)


def _broker_env(port: int) -> dict[str, str]:
    jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    return {
        "CLUSTER_ID": "ICuM_GumTjW_QDZV9s0ZDQ",
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": "HOST://0.0.0.0:29092,LOCAL://127.0.0.1:9094,CONTROLLER://127.0.0.1:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"HOST://127.0.0.1:{port},LOCAL://127.0.0.1:9094",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,LOCAL:PLAINTEXT,HOST:SASL_SSL",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "LOCAL",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@127.0.0.1:9093",
        "KAFKA_SASL_ENABLED_MECHANISMS": "SCRAM-SHA-512",
        "KAFKA_LISTENER_NAME_HOST_SCRAM___SHA___512_SASL_JAAS_CONFIG": jaas,
        "KAFKA_SSL_KEYSTORE_TYPE": "PEM",
        "KAFKA_SSL_KEYSTORE_LOCATION": "/etc/kafka/test-certs/keystore.pem",
        "KAFKA_SSL_TRUSTSTORE_TYPE": "PEM",
        "KAFKA_SSL_TRUSTSTORE_LOCATION": "/etc/kafka/test-certs/ca.pem",
        "KAFKA_AUTHORIZER_CLASS_NAME": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND": "false",
        "KAFKA_SUPER_USERS": "User:ANONYMOUS",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
    }


@pytest.fixture(scope="module")
def secured_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredKafka]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    certs = tmp_path_factory.mktemp("kafka-certs")
    tls = make_tls_material(certs / "material")
    (certs / "keystore.pem").write_text(tls.server_key.read_text() + tls.server_cert.read_text())
    (certs / "ca.pem").write_text(tls.ca.read_text())
    for path in (certs, certs / "keystore.pem", certs / "ca.pem"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # the image's user is not ours
    port = free_port()
    container = (DockerContainer(IMAGE).with_envs(**_broker_env(port)).with_bind_ports(29092, port)
                 .with_volume_mapping(str(certs), "/etc/kafka/test-certs", "ro"))
    with container:
        wait_for_logs(container, "Kafka Server started", timeout=120)
        admin = ["/opt/kafka/bin/kafka-configs.sh", "--bootstrap-server", "127.0.0.1:9094"]
        for principal, password in PASSWORDS.items():
            code, output = container.exec([*admin, "--alter", "--entity-type", "users", "--entity-name",
                                           principal, "--add-config",
                                           f"SCRAM-SHA-512=[iterations=8192,password={password}]"])
            assert code == 0, output
        granted = {name: PRINCIPALS[name] for name in PASSWORDS}
        for line in acl_lines(granted, TOPICS, "framegate.admission", "framegate-audit"):
            code, output = container.exec(["/opt/kafka/bin/kafka-acls.sh", "--bootstrap-server",
                                           "127.0.0.1:9094", *line.split()])
            assert code == 0, output
        yield SecuredKafka(f"127.0.0.1:{port}", tls)


def _profile(security: KafkaSecurity) -> BrokerProfile:
    return BROKER_PROFILES["kafka"].secured(security)


async def _produce(bootstrap: str, security: KafkaSecurity, topic: str, value: bytes) -> None:
    await secured_clients.produce_one(bootstrap, _profile(security), topic, value, BOUND_S)


async def _read(bootstrap: str, security: KafkaSecurity, topic: str) -> list[bytes]:
    return await secured_clients.read_back(bootstrap, _profile(security), topic, BOUND_S)


def test_round_trip_over_sasl_ssl_with_least_privilege(secured_kafka: SecuredKafka) -> None:
    kafka = secured_kafka
    asyncio.run(asyncio.wait_for(
        create_topics(kafka.bootstrap, TOPICS, security=kafka.security("topics-init")), BOUND_S))
    asyncio.run(_produce(kafka.bootstrap, kafka.security("gateway"), TOPICS.tasks_requested, b"signed"))
    assert b"signed" in asyncio.run(_read(kafka.bootstrap, kafka.security("admission"),
                                          TOPICS.tasks_requested))


def test_a_write_the_acls_do_not_grant_is_refused(secured_kafka: SecuredKafka) -> None:
    kafka = secured_kafka
    asyncio.run(asyncio.wait_for(
        create_topics(kafka.bootstrap, TOPICS, security=kafka.security("topics-init")), BOUND_S))
    with pytest.raises(TopicAuthorizationFailedError):
        # the gateway may write tasks.requested only: no lane commands
        asyncio.run(_produce(kafka.bootstrap, kafka.security("gateway"), TOPICS.events_lane, b"restore"))


def test_a_wrong_password_is_refused(secured_kafka: SecuredKafka) -> None:
    with pytest.raises(KafkaError):
        asyncio.run(_produce(secured_kafka.bootstrap, secured_kafka.security("gateway", "wrong"),
                             TOPICS.tasks_requested, b"x"))


def test_a_client_without_credentials_is_refused(secured_kafka: SecuredKafka) -> None:
    with pytest.raises((KafkaConnectionError, TimeoutError)):
        asyncio.run(_produce(secured_kafka.bootstrap, KafkaSecurity(), TOPICS.tasks_requested, b"x"))


def test_a_broker_certificate_from_another_ca_is_refused(secured_kafka: SecuredKafka) -> None:
    stranger = secured_kafka.security("gateway", ca=secured_kafka.tls.other_ca)
    with pytest.raises((KafkaConnectionError, TimeoutError)):
        asyncio.run(_produce(secured_kafka.bootstrap, stranger, TOPICS.tasks_requested, b"x"))
