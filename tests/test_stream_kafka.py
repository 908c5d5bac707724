"""Stream mode against the real Kafka broker of the session fixture (never skipped).

Every test compares with the file mode on the same input: the alerts a consumer keeping the
last value per alert id sees must be exactly the documents `tokenhawk detect` writes, and no
alert id may ever appear on the topic that the file mode would not produce.
"""

from __future__ import annotations

import signal
import time
from collections import Counter

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from prometheus_client import CollectorRegistry

from detector.detect.engine import Detector
from detector.events import FIELDS, to_table
from detector.quarantine import QuarantineFile
from pipelines.ingest import IngestStats
from pipelines.replay import load_events, replay
from pipelines.stream.metrics import StreamMetrics
from pipelines.stream.produce import produce_events, produce_raw
from pipelines.stream.service import run_stream
from pipelines.stream.topics import ensure_topics
from service_fixtures.kafka import restart_kafka
from detect_world import DAY, HOUR, T0
from stream_support import (
    DELETER,
    REPO,
    alerts_on_topic,
    assert_same_alerts,
    attack_world,
    detector_config,
    file_mode_alerts,
    kafka_config,
    read_topic,
    settings_for,
    tokenhawk,
    write_config,
)

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def world() -> tuple[list[dict], dict[str, dict]]:
    events = attack_world()
    return events, file_mode_alerts(events)


def committed(config, partitions: int) -> int:
    consumer = KafkaConsumer(group_id=config.detect_group, enable_auto_commit=False, **config.client_kwargs())
    try:
        return sum(consumer.committed(TopicPartition(config.topics.events, p)) or 0 for p in range(partitions))
    finally:
        consumer.close()


def records_on(config, partitions: int) -> int:
    """Records on the events topic now (the sum of its end offsets)."""
    consumer = KafkaConsumer(group_id=None, enable_auto_commit=False, **config.client_kwargs())
    try:
        tps = [TopicPartition(config.topics.events, p) for p in range(partitions)]
        return sum(consumer.end_offsets(tps).values())
    finally:
        consumer.close()


def wait_for(condition, what: str, timeout_s: float = 90, process=None) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what}: the process exited ({process.returncode}): {process.log()[-3000:]}")
        assert time.monotonic() < deadline, f"timed out waiting: {what}" + (
            f"; its log: {process.log()[-3000:]}" if process is not None else "")
        time.sleep(0.2)


@pytest.mark.parametrize("per_record", [1, 40])
def test_events_in_alerts_out_equal_file_mode_and_poison_goes_to_dlq(kafka_bootstrap, world, per_record):
    """With per_record > 1 the events travel as arrays (kafka.events_per_record): the alerts are
    the same, and a bad event inside an array is dead-lettered alone."""
    events, want = world
    assert {"dead-pod-token", "bound-token-ip-mismatch"} <= {
        s["kind"] for a in want.values() for s in a["tokenhawk"]["signals"]}, "the world must exercise facts"
    config = kafka_config(kafka_bootstrap, f"inout{per_record}", partitions=3, events_per_record=per_record)
    ensure_topics(config)
    third = len(events) // 3
    producer = KafkaProducer(**config.producer_kwargs())
    produce_events(config, [to_table(events[:third])], producer=producer)
    bad_row = dict.fromkeys(FIELDS) | {"ts": 1, "source": "k8s", "principal": "p", "event_id": "x", "status_code": "teapot"}
    poison = [b"{not json", b"[1, 2]", orjson.dumps({"ts": "yesterday", "source": "k8s"}), orjson.dumps(bad_row)]
    if per_record > 1:  # an array whose events are all bad, each its own dead letter
        poison += [orjson.dumps([{"ts": "yesterday"}, bad_row])]
    for value in poison:
        producer.send(config.topics.events, key=b"poison", value=value)
    # an array is read as events whatever the setting: b"[1, 2]" is two bad events, the last one two
    poison_events = len(poison) + 1 + (1 if per_record > 1 else 0)
    produce_events(config, [to_table(events[third:])], producer=producer)
    producer.close()

    registry = CollectorRegistry()
    report = run_stream(settings_for(config), ["detect"], once=True, max_idle_s=2.0,
                        metrics=StreamMetrics(registry))

    got, ever = alerts_on_topic(config)
    assert_same_alerts(got, want)
    assert set(ever) <= set(want)
    assert report.records["detect"] == len(events)
    dead = read_topic(config, config.topics.dlq)
    assert len(dead) == poison_events
    for record in dead:
        headers = dict(record.headers)
        assert headers["reason"] == b"bad-event" and headers["processor"] == b"detect"
        topic, partition, offset = headers["origin"].decode().rsplit("/", 2)
        offset, _, index = offset.partition("#")  # an event of an array: offset#index
        assert topic == config.topics.events and int(offset) >= 0 and (not index or int(index) >= 0)

    def sample(name, **labels):
        return registry.get_sample_value(name, labels) or 0.0

    consumed = sum(sample("tokenhawk_stream_records_consumed_total", processor="detect", source=s) for s in ("k8s", "aws"))
    assert consumed == len(events)
    assert sample("tokenhawk_stream_records_dead_lettered_total", processor="detect", source="unknown",
                  reason="bad-event") == poison_events
    produced = sum(sample("tokenhawk_stream_alerts_total", severity=s) for s in ("low", "medium", "high", "critical"))
    assert produced == len(ever)
    assert all(sample("tokenhawk_stream_state_bytes", partition=str(p)) > 0 for p in range(3))
    assert sum(sample("tokenhawk_stream_consumer_lag", processor="detect", topic=config.topics.events,
                      partition=str(p)) for p in range(3)) == 0
    assert sample("tokenhawk_stream_batch_seconds_count", processor="detect") > 0
    secrets = {e["principal"] for e in events} | {e["token_id"] for e in events} | {e["source_ip"] for e in events if e["source_ip"]}
    for metric in registry.collect():
        for s in metric.samples:
            assert not set(s.labels.values()) & secrets, f"{s.name} has a principal/token/address label: {s.labels}"


def test_raw_topics_through_stream_all(kafka_bootstrap, tmp_path):
    """Raw fixture files → normalize → events → detect, as `tokenhawk stream all --once`: the
    events equal the file mode's normalization, bad records are dead-lettered with reason and
    origin while the rest flows on, and the alerts equal `tokenhawk detect` on the same files."""
    config = kafka_config(kafka_bootstrap, "raw", partitions=2)
    poison = tmp_path / "poison.jsonl"
    poison.write_bytes(b'{"kind": 0}\n{broken json\n' + b'{"apiVersion": "audit.k8s.io/v1", "kind": "Event"}\n')
    fixtures = REPO / "tests" / "fixtures"
    by_source = {s: [str(fixtures / s)] for s in ("k8s", "aws")}
    by_source["k8s"].append(str(poison))
    ensure_topics(config)
    for source, inputs in by_source.items():
        produce_raw(config, config.topics.raw[source], inputs)
    inputs = by_source["k8s"] + by_source["aws"]

    quarantine = QuarantineFile(tmp_path / "q.jsonl")
    stats = IngestStats()
    file_events = load_events(inputs, on_quarantine=quarantine, stats=stats, quiet=True)
    quarantine.close()
    want_alerts = replay(file_events, Detector(detector_config()), quiet=True).alerts

    config_path = write_config(tmp_path / "config.yaml", config)
    run = tokenhawk(tmp_path / "all.log", "stream", "all", "--config", str(config_path), "--once", "--max-idle", "2",
                    "--metrics-port", "0")
    report, log = run.report(), run.log()
    assert report["events_published"] == file_events.num_rows

    def comparable(event: dict) -> bytes:
        return orjson.dumps({k: v for k, v in event.items() if k != "origin"}, option=orjson.OPT_SORT_KEYS)

    stream_events = [orjson.loads(r.value) for r in read_topic(config, config.topics.events)]
    assert Counter(map(comparable, stream_events)) == Counter(map(comparable, file_events.to_pylist()))
    assert all(e["origin"].startswith(config.topics.raw["k8s"] + "/") or e["origin"].startswith(config.topics.raw["aws"] + "/")
               for e in stream_events)
    dead = read_topic(config, config.topics.dlq)
    assert Counter(dict(r.headers)["reason"].decode() for r in dead) == stats.quarantined
    for record in dead:
        headers = dict(record.headers)
        assert headers["processor"] == b"normalize" and headers["origin"].decode().count("/") >= 2
    got, ever = alerts_on_topic(config)
    assert_same_alerts(got, want_alerts)
    assert set(ever) <= set(want_alerts)
    assert '"log.level"' in log  # JSON logs


@pytest.mark.parametrize("per_record", [1, 25])
def test_kill_9_mid_stream_then_restart_loses_and_invents_nothing(kafka_bootstrap, world, tmp_path, per_record):
    """The first day (learning) is snapshotted; the next hours, with the first attack, are
    processed and alerted but not yet snapshotted when the process is killed. The restart
    restores the snapshot, redoes those hours and goes on: same alerts, none extra (also with
    events sent as arrays: the snapshot's offsets are then those of whole arrays)."""
    events, want = world
    config = kafka_config(kafka_bootstrap, f"kill9-{per_record}", partitions=3, snapshot_interval_s=6,
                          snapshot_every_events=10**6, events_per_record=per_record,
                          snapshot_in_background=True)  # the snapshot built in a forked child keeps the guarantee too
    ensure_topics(config)
    day_one = sum(1 for e in events if e["ts"] < T0 + DAY)
    first_attack = sum(1 for e in events if e["ts"] < T0 + DAY + 6 * HOUR)
    produce_events(config, [to_table(events[:day_one])])
    day_one_records = records_on(config, 3)  # offsets count records: arrays hold several events
    assert day_one_records == day_one if per_record == 1 else day_one_records < day_one
    path = write_config(tmp_path / "config.yaml", config)

    first = tokenhawk(tmp_path / "first.log", "stream", "detect", "--config", str(path), "--no-metrics")
    wait_for(lambda: committed(config, 3) >= day_one_records, "the first day snapshotted", process=first)
    produce_events(config, [to_table(events[day_one:first_attack])])
    wait_for(lambda: alerts_on_topic(config)[1], "the first attack's alert", process=first)
    first.send_signal(signal.SIGKILL)  # well within the 6 s before the next snapshot
    first.communicate()
    assert first.returncode == -signal.SIGKILL
    assert committed(config, 3) == day_one_records, "the kill came after the next snapshot: nothing to redo"
    produce_events(config, [to_table(events[first_attack:])])

    second = tokenhawk(tmp_path / "second.log", "stream", "detect", "--config", str(path), "--no-metrics", "--once",
                       "--max-idle", "2")
    report = second.report()
    assert '"restored":[0,1,2]' in second.log()
    assert report["records"]["detect"] == len(events) - day_one  # the hours after the snapshot, redone
    got, ever = alerts_on_topic(config)
    assert_same_alerts(got, want)
    assert set(ever) <= set(want), f"alerts the file mode never raised: {set(ever) - set(want)}"


def test_second_consumer_takes_partitions_with_their_state(kafka_bootstrap, world, tmp_path):
    """Two partitions: the IRSA role and the service account that minted its key, and the
    deleted pod's owner and the controller that deleted it, each fall on different partitions,
    so after the split the lineage and the deletion reach their owner only through the facts."""
    events, want = world
    config = kafka_config(kafka_bootstrap, "join", partitions=2)
    from pipelines.stream.topics import PartitionMap, principal_key

    owner = PartitionMap(2)
    assert owner(principal_key("k8s", "prod", DELETER)) != owner(
        principal_key("k8s", "prod", "system:serviceaccount:kube-system:cert-manager"))
    ensure_topics(config)
    cut = int(len(events) * 0.55)
    produce_events(config, [to_table(events[:cut])])
    path = write_config(tmp_path / "config.yaml", config)
    args = ("stream", "detect", "--config", str(path), "--no-metrics", "--once", "--max-idle", "8")

    first = tokenhawk(tmp_path / "first.log", *args, "--instance", "first")
    wait_for(lambda: committed(config, 2) >= cut * 0.5, "the first instance's progress", process=first)
    second = tokenhawk(tmp_path / "second.log", *args, "--instance", "second")
    wait_for(lambda: any('"restored":[' in line and '"restored":[]' not in line for line in second.log().splitlines()),
             "the second instance restoring a partition's state", process=second)
    produce_events(config, [to_table(events[cut:])])

    first_report, second_report = first.report(), second.report()
    assert first_report["records"]["detect"] > 0 and second_report["records"]["detect"] > 0
    got, ever = alerts_on_topic(config)
    assert_same_alerts(got, want)
    assert set(ever) <= set(want)


def test_broker_restart_mid_stream_and_sigterm(kafka_bootstrap, world, tmp_path):
    """The broker goes away mid-stream and comes back; then SIGTERM stops the processor
    gracefully (batch finished, state saved, offsets committed); a --once run picks up from
    that state and ends the input as the file mode does."""
    events, want = world
    config = kafka_config(kafka_bootstrap, "restart", partitions=3)
    ensure_topics(config)
    cut = len(events) // 2
    produce_events(config, [to_table(events[:cut])])
    path = write_config(tmp_path / "config.yaml", config)

    running = tokenhawk(tmp_path / "running.log", "stream", "detect", "--config", str(path), "--metrics-port", "0")
    wait_for(lambda: committed(config, 3) >= cut * 0.4, "progress before the restart", process=running)
    restart_kafka()
    produce_events(config, [to_table(events[cut:])])
    wait_for(lambda: committed(config, 3) >= len(events), "every event processed after the restart", process=running)
    running.send_signal(signal.SIGTERM)
    running.wait(timeout=60)
    assert running.returncode == 0, running.log()[-4000:]
    assert '"stopped_by":"SIGTERM"' in running.log()

    report = tokenhawk(tmp_path / "after.log", "stream", "detect", "--config", str(path), "--no-metrics", "--once",
                       "--max-idle", "2").report()
    assert report["records"]["detect"] == 0  # the SIGTERM snapshot held every offset
    got, ever = alerts_on_topic(config)
    assert_same_alerts(got, want)
    assert set(ever) <= set(want)
