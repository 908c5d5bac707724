"""The stream normalize processor's step on fake Kafka clients: the tenant header (or default)
fills events whose log names none, stage copies collapse, and the commit stops at a held copy."""

from __future__ import annotations

from collections import namedtuple

import orjson
from kafka import TopicPartition

from pipelines.stream.config import KafkaConfig
from pipelines.stream.metrics import StreamMetrics
from pipelines.stream.normalize import NormalizeProcessor
from stream_support import FakeProducer
from test_normalize_k8s import base_event

Record = namedtuple("Record", "value offset headers")


class FakeConsumer:
    def __init__(self, polls):
        self.polls = list(polls)
        self.committed = []

    def subscribe(self, topics):
        self.topics = topics

    def poll(self, timeout_ms=0, max_records=None):
        return self.polls.pop(0) if self.polls else {}

    def commit(self, offsets):
        self.committed.append({tp: meta.offset for tp, meta in offsets.items()})

    def assignment(self):
        return set()


def test_step_fills_tenants_collapses_stages_and_commits_before_a_held_copy():
    config = KafkaConfig(default_tenant="fallback")
    topic = config.topics.raw["k8s"]
    tp = TopicPartition(topic, 0)
    line = lambda **over: orjson.dumps(base_event(**over))  # noqa: E731
    records = [
        Record(line(auditID="a", stage="RequestReceived"), 10, [("tenant", b"prod")]),
        Record(line(auditID="a"), 11, [("tenant", b"prod")]),
        Record(line(auditID="b"), 12, None),  # no header: the default tenant
        Record(line(auditID="c", stage="ResponseStarted"), 13, None),  # held: its final line has not come
    ]
    producer, consumer = FakeProducer(), FakeConsumer([{tp: records}])
    proc = NormalizeProcessor(config, StreamMetrics(), producer=producer, consumer=consumer)
    assert proc.step() == 4
    events = [orjson.loads(value) for value in producer.values(config.topics.events)]
    assert [(e["event_id"], e["stage"], e["tenant"], e["origin"]) for e in events] == [
        ("a", "ResponseComplete", "prod", f"{topic}/0/11"),
        ("b", "ResponseComplete", "fallback", f"{topic}/0/12"),
    ]
    assert consumer.committed[-1] == {tp: 13}  # not past the held ResponseStarted copy
    proc.flush_held()
    held = [orjson.loads(value) for value in producer.values(config.topics.events)][2:]
    assert [(e["event_id"], e["stage"], e["tenant"]) for e in held] == [("c", "ResponseStarted", "fallback")]
