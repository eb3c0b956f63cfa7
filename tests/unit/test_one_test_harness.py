"""One way for tests to talk to the broker and to build messages: these fail when a test file
grows its own copy again.

- Kafka clients are built in `tests/broker_io.py` (from the run's broker profile) and nowhere
  else, except where the client itself is the test's subject (listed below with why);
- wire messages (requests, decisions, task and lane events, hosts) are built in
  `tests/factories.py`, except where the constructor itself is the subject.
"""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

#: A Kafka client constructed outside the harness.
CLIENT = re.compile(r"\bAIOKafka(Producer|Consumer)\(")
#: A wire message constructed outside the factories.
MESSAGE = re.compile(
    r"(?<!class )\b(GenerationRequest|GenerationTask|TaskEvent|LaneEvent|AdmissionDecision|MemoryDiagnosticEvent"
    r"|HostPressure)\("
)

OWN_CLIENTS = {
    "broker_io.py": "the harness itself",
    "integration/foundation/test_broker_roundtrip.py": "its subject is a consumer group's commit and a new "
    "member starting after it",
    "secured_clients.py": "clients that authenticate and encrypt, for the broker security tests (tansu's "
    "and Apache Kafka's): their subject is the client's credentials",
    "integration/foundation/test_no_secrets_leak.py": "its subject is what a refused client logs and raises",
    "unit/admission/test_output_batches.py": "its subject is record batches built by a producer that is never "
                                             "started (no broker)",
    "integration/gpu_consumers/test_lane_ledger_holes.py": "it moves the consumer it hands the ledger, as a "
    "broker skipping records would",
}
OWN_MESSAGES = {
    "factories.py": "the factories themselves",
    "unit/schemas/test_seed_rules.py": "its subject is what the message constructors refuse",
    "unit/schemas/test_wire_messages.py": "its subject is what the message constructors refuse",
    "data/admission_golden/record.py": "the golden log's recorder: its records are pinned byte for byte by a "
    "seeded generator, and re-recording is the golden test's own decision",
}


def files_matching(pattern: re.Pattern[str]) -> set[str]:
    found = set()
    for path in TESTS.rglob("*.py"):
        if path == Path(__file__).resolve():
            continue
        if pattern.search(path.read_text()):
            found.add(path.relative_to(TESTS).as_posix())
    return found


def test_only_the_harness_builds_kafka_clients() -> None:
    assert files_matching(CLIENT) - set(OWN_CLIENTS) == set(), "build it in tests/broker_io.py (or list why not)"


def test_only_the_factories_build_wire_messages() -> None:
    assert files_matching(MESSAGE) - set(OWN_MESSAGES) == set(), "build it with tests/factories.py (or list why not)"


def test_every_listed_exception_still_needs_its_place() -> None:
    # An entry whose file no longer builds its own is stale: drop it, so the list stays the truth.
    assert set(OWN_CLIENTS) - files_matching(CLIENT) == set()
    assert set(OWN_MESSAGES) - files_matching(MESSAGE) == set()


def test_the_patterns_see_a_copy() -> None:
    assert CLIENT.search("    producer = AIOKafkaProducer(**PROFILE.producer_kwargs(bootstrap))")
    assert CLIENT.search("consumer = AIOKafkaConsumer(topic, bootstrap_servers=b)")
    assert not CLIENT.search("from aiokafka import AIOKafkaConsumer, TopicPartition")
    assert MESSAGE.search("    return GenerationRequest(task_id=task_id, model=model)")
    assert MESSAGE.search("TaskEvent(task=GenerationTask(id='t'), lane=lane)")
    assert not MESSAGE.search("class TaskEvent(BaseModel):")
    assert not MESSAGE.search("AdmissionDecision.model_validate(value)")
