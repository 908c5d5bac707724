"""Wiring around the `detector` library: file replay, Kafka processors, delivery and the CLI."""
