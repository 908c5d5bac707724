"""The token inventory in stream mode: kept by the detect processor's own pass, carried in its
state records, and emitted to the compacted inventory topic (real broker, never skipped)."""

from __future__ import annotations

import orjson
from kafka import KafkaProducer
from prometheus_client import CollectorRegistry

from detector.detect.engine import Detector
from detector.events import to_table
from detector.inventory import Inventory, build
from pipelines.replay import replay
from pipelines.stream.metrics import StreamMetrics
from pipelines.stream.produce import produce_events
from pipelines.stream.service import run_stream
from pipelines.stream.state import decode_record
from pipelines.stream.topics import ensure_topics
from stream_support import attack_world, detector_config, kafka_config, read_topic, settings_for


def test_inventory_reaches_its_compacted_topic_and_the_state(kafka_bootstrap):
    events = attack_world()
    # emissions every half second: the topic must come out whole from many incremental emissions
    config = kafka_config(kafka_bootstrap, "inventory", partitions=3, inventory_interval_s=0.5)
    ensure_topics(config)
    producer = KafkaProducer(**config.producer_kwargs())
    produce_events(config, [to_table(events)], producer=producer)
    producer.close()

    run_stream(settings_for(config), ["detect"], once=True, max_idle_s=2.0, metrics=StreamMetrics(CollectorRegistry()))

    latest: dict[bytes, dict] = {}
    for record in read_topic(config, config.topics.inventory):
        latest[record.key] = orjson.loads(record.value)
    tokens = {k: v for k, v in latest.items() if k.startswith(b"token|")}
    principals = {k: v for k, v in latest.items() if k.startswith(b"principal|")}

    # the same inventory the file mode builds from the same events
    inventory = Inventory()
    detector = Detector(detector_config(), observers=[inventory])
    replay(to_table(events), detector, quiet=True)
    report = build(inventory, detector)
    assert {f"token|{row.key}".encode() for row in report.tokens} == set(tokens)
    assert len(principals) == len(report.principals)
    by_key = {f"token|{row.key}".encode(): row for row in report.tokens}
    for key, value in tokens.items():
        assert value["events"] == by_key[key].events
        assert value["principal"] == by_key[key].principal

    # and the inventory travels in every partition's state record
    states = [decode_record(r.value) for r in read_topic(config, config.topics.state) if r.key.startswith(b"events-")]
    assert states and all("inventory" in s for s in states)
