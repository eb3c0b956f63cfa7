"""aiokafka's per-record debug line keeps its key and partition and loses the value."""

from __future__ import annotations

import logging

import pytest

from schemas.broker_profile import BROKER_PROFILES
from schemas.client_logging import HIDDEN, PRODUCER_LOGGER, SENDING, RecordValueFilter


def test_the_value_is_hidden_once_a_producer_is_configured(caplog: pytest.LogCaptureFixture) -> None:
    BROKER_PROFILES["tansu"].producer_kwargs("h:1")
    BROKER_PROFILES["kafka"].producer_kwargs("h:1")
    logger = logging.getLogger(PRODUCER_LOGGER)
    assert sum(isinstance(f, RecordValueFilter) for f in logger.filters) == 1
    with caplog.at_level(logging.DEBUG, logger=PRODUCER_LOGGER):
        logger.debug(SENDING, b"task-1", b'{"prompt": "private words"}', "topic-0")
        logger.debug("other %s", "private words")
    assert "private words" not in caplog.records[0].getMessage()
    assert caplog.records[0].getMessage() == f"Sending (key=b'task-1' value={HIDDEN}) to topic-0"
    assert caplog.records[1].getMessage() == "other private words"  # other lines untouched
