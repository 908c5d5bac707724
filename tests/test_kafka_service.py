"""The real Kafka broker that integration tests use: round trip, and a restart mid-stream."""

from __future__ import annotations

import time
from collections import defaultdict

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.serializer import DefaultSerializer, JsonSerializer
from service_fixtures.kafka import fresh_topic, kafka_bootstrap, restart_kafka  # noqa: F401

pytestmark = pytest.mark.kafka

PARTITIONS = 3
# Reconnect quickly after a broker restart (the clients' default backoff grows to 30 s).
CLIENT_OPTS = {"reconnect_backoff_max_ms": 1000, "request_timeout_ms": 30000}


def create_topic(bootstrap: str, name: str, partitions: int = PARTITIONS) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **CLIENT_OPTS)
    try:
        admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        # the controller has committed the topic; the broker's metadata may lag a moment behind
        deadline = time.monotonic() + 30
        while len(admin.describe_topics([name])[0]["partitions"]) != partitions:
            assert time.monotonic() < deadline, f"topic {name} has no {partitions} partitions"
            time.sleep(0.1)
    finally:
        admin.close()


def producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        key_serializer=DefaultSerializer(),
        value_serializer=JsonSerializer(),
        linger_ms=5,
        **CLIENT_OPTS,
    )


def consumer(bootstrap: str, topic: str, group: str) -> KafkaConsumer:
    return KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        key_deserializer=DefaultSerializer(),
        value_deserializer=JsonSerializer(),
        **CLIENT_OPTS,
    )


def records(first: int, count: int) -> list[tuple[str, dict]]:
    return [
        (f"user-{i % 50}", {"seq": i, "token": f"t{i:05d}"}) for i in range(first, first + count)
    ]


def send_all(prod: KafkaProducer, topic: str, batch: list[tuple[str, dict]]) -> None:
    futures = [prod.send(topic, key=k, value=v) for k, v in batch]
    prod.flush(timeout=60)
    for f in futures:
        f.get(timeout=60)  # raises if any record was not acknowledged by the broker


def poll_until(cons: KafkaConsumer, want: int, timeout_s: float = 90) -> list:
    got: list = []
    deadline = time.monotonic() + timeout_s
    while len(got) < want and time.monotonic() < deadline:
        for batch in cons.poll(timeout_ms=500).values():
            got.extend(batch)
    return got


def assert_exact(got: list, expected: list[tuple[str, dict]]) -> None:
    assert len(got) == len(expected)
    assert sorted((m.key, m.value["seq"], m.value["token"]) for m in got) == sorted(
        (k, v["seq"], v["token"]) for k, v in expected
    )
    # one key lives in one partition, in the order it was produced
    by_key: dict[str, list[int]] = defaultdict(list)
    partition_of: dict[str, set[int]] = defaultdict(set)
    for m in got:
        by_key[m.key].append(m.value["seq"])
        partition_of[m.key].add(m.partition)
    for key, seqs in by_key.items():
        assert seqs == sorted(seqs), key
        assert len(partition_of[key]) == 1, key


def test_round_trip_1000_records_through_three_partitions(
    kafka_bootstrap: str,  # noqa: F811 - pytest fixture injection
) -> None:
    topic = fresh_topic("roundtrip")
    create_topic(kafka_bootstrap, topic)
    expected = records(0, 1000)

    prod = producer(kafka_bootstrap)
    try:
        send_all(prod, topic, expected)
    finally:
        prod.close()

    cons = consumer(kafka_bootstrap, topic, group=fresh_topic("g-roundtrip"))
    try:
        got = poll_until(cons, len(expected))
        assert_exact(got, expected)
        assert {m.partition for m in got} == set(range(PARTITIONS))
        assert cons.poll(timeout_ms=1000) == {}  # nothing beyond the 1000
    finally:
        cons.close()


def test_producer_and_consumer_survive_a_broker_restart(
    kafka_bootstrap: str,  # noqa: F811 - pytest fixture injection
) -> None:
    topic = fresh_topic("restart")
    group = fresh_topic("g-restart")
    create_topic(kafka_bootstrap, topic)
    before, after = records(0, 300), records(300, 200)
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]

    prod = producer(kafka_bootstrap)
    cons = consumer(kafka_bootstrap, topic, group)
    try:
        send_all(prod, topic, before)
        got_before = poll_until(cons, len(before))
        cons.commit()
        assert_exact(got_before, before)

        assert restart_kafka() == kafka_bootstrap

        # the same producer and consumer carry on against the restarted broker
        send_all(prod, topic, after)
        got_after = poll_until(cons, len(after))
        assert_exact(got_after, after)
        cons.commit()
    finally:
        prod.close()
        cons.close()

    # the group's committed offsets were stored by the broker and survived the restart:
    # a new member of the group would start exactly at the end of every partition
    later = consumer(kafka_bootstrap, topic, group)
    try:
        committed = {tp: later.committed(tp) for tp in partitions}
        assert committed == later.end_offsets(partitions)
        assert sum(committed.values()) == len(before) + len(after)
    finally:
        later.close()

    # and the records themselves survived: a new group reads all 500 from the start
    fresh = consumer(kafka_bootstrap, topic, fresh_topic("g-reread"))
    try:
        assert_exact(poll_until(fresh, 500), before + after)
    finally:
        fresh.close()
