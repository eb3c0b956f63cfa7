"""The embedded stack: a Kafka-protocol broker process and topic administration."""
