"""Kafka client logging without user data: aiokafka logs every record it sends, value included,
at debug level ("Sending (key=... value=...)"), and framegate's records carry prompts.

`hide_record_values` installs, once per process, a filter on aiokafka's producer logger that
keeps the line (key and partition) and drops the value. The profile's producer helper calls it,
so every producer framegate configures, Faust's included, is covered.
"""

from __future__ import annotations

import logging

PRODUCER_LOGGER = "aiokafka.producer.producer"
SENDING = "Sending (key=%s value=%s) to %s"
HIDDEN = "<value hidden>"


class RecordValueFilter(logging.Filter):
    """Replaces the value argument of aiokafka's "Sending" debug line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == SENDING and isinstance(record.args, tuple) and len(record.args) == 3:
            key, _value, partition = record.args
            record.args = (key, HIDDEN, partition)
        return True


def hide_record_values() -> None:
    logger = logging.getLogger(PRODUCER_LOGGER)
    if not any(isinstance(f, RecordValueFilter) for f in logger.filters):
        logger.addFilter(RecordValueFilter())
