"""Topic names, topic creation, and the principal → partition mapping that keys the events topic.

The producer partitions `tokenhawk.events` itself (same murmur2 as Kafka's default partitioner,
so any client agrees) and the detect side uses the same function to tell which principals a
partition's snapshot holds.
"""

from __future__ import annotations

import logging
import time
from typing import Iterable

from kafka.partitioner.default import murmur2

from .config import KafkaConfig

log = logging.getLogger(__name__)

COMPACTED_STATE = {
    "cleanup.policy": "compact",
    # snapshots are rewritten every few seconds: let the cleaner drop old ones soon
    "segment.ms": "60000",
    "min.cleanable.dirty.ratio": "0.1",
    "delete.retention.ms": "60000",
}


def principal_key(source: str | None, tenant: str | None, principal: str | None) -> str:
    """The detector's principal key (a missing tenant is empty, as in the detector), also the
    record key on the events topic: the partition an event lands on is the one whose snapshot
    holds its principal."""
    return f"{source}|{tenant or ''}|{principal}"


def partition_for(key: bytes, partitions: int) -> int:
    """Kafka's default partition of a keyed record (Java's and kafka-python's murmur2)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class PartitionMap:
    """principal key → partition, memoized (murmur2 is pure Python in kafka-python)."""

    def __init__(self, partitions: int, limit: int = 1_000_000):
        self.partitions = partitions
        self.limit = limit
        self._cache: dict[str, int] = {}

    def __call__(self, key: str) -> int:
        p = self._cache.get(key)
        if p is None:
            if len(self._cache) >= self.limit:
                self._cache.clear()
            p = self._cache[key] = partition_for(key.encode(), self.partitions)
        return p


def topic_specs(config: KafkaConfig) -> dict[str, dict[str, str]]:
    """Every topic tokenhawk uses, with the topic configs it needs."""
    t = config.topics
    specs: dict[str, dict[str, str]] = {name: {} for name in t.raw.values()}
    specs[t.events] = {}
    specs[t.facts] = {}
    specs[t.alerts] = {}
    specs[t.dlq] = {}
    specs[t.state] = dict(COMPACTED_STATE, **{"max.message.bytes": str(config.state_max_bytes)})
    specs[t.inventory] = {"cleanup.policy": "compact"}
    return specs


def ensure_topics(config: KafkaConfig, names: Iterable[str] | None = None, timeout_s: float = 30.0) -> list[str]:
    """Create the missing topics (all of tokenhawk's by default); returns the names created."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    specs = topic_specs(config)
    wanted = list(names) if names is not None else list(specs)
    admin = KafkaAdminClient(**config.client_kwargs())
    try:
        existing = set(admin.list_topics())
        missing = [n for n in wanted if n not in existing]
        created = []
        for name in missing:
            try:
                admin.create_topics([NewTopic(name, num_partitions=config.partitions,
                                              replication_factor=config.replication_factor,
                                              topic_configs=specs.get(name, {}))])
                created.append(name)
            except TopicAlreadyExistsError:
                pass  # another instance made it first
        deadline = time.monotonic() + timeout_s
        for name in created:
            while True:
                described = admin.describe_topics([name])
                if described and described[0].get("partitions") and len(described[0]["partitions"]) == config.partitions:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"topic {name} was created but its partitions did not appear in {timeout_s:.0f}s")
                time.sleep(0.1)
        if created:
            log.info("created topics %s", ", ".join(created), extra={"fields": {"topics": created}})
        return created
    finally:
        admin.close()


def partition_count(consumer, topic: str, timeout_s: float = 30.0) -> int:
    """Partitions of `topic` as a consumer's metadata knows them (waits for metadata)."""
    deadline = time.monotonic() + timeout_s
    while True:
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return len(parts)
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {topic} has no partitions (does it exist?)")
        time.sleep(0.1)
