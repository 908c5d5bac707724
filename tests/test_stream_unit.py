"""Stream-mode parts that need no broker: event-time alignment, record codec, settings,
partition keys, state records (exact resume), metrics."""

from __future__ import annotations

import json
from collections import Counter
import urllib.request

import orjson
import pytest
from prometheus_client import CollectorRegistry

from detector.detect.engine import Detector
from detector.errors import ConfigError
from detector.events import FIELDS, new_event, to_table
from pipelines.settings import load_settings
from pipelines.stream.align import TimeAligner
from pipelines.stream.codec import (BadRecord, dead_letter, decode_event, decode_row, decode_rows, encode_event,
                                    encode_array, is_fact, rows_table)
from pipelines.stream.config import KafkaConfig
from pipelines.stream.metrics import StreamMetrics
from pipelines.stream.state import (
    decode_record,
    encode_record,
    forests_state,
    partition_state,
    restore_forests,
    restore_partitions,
)
from pipelines.stream.topics import PartitionMap, partition_for, principal_key
from stream_support import FakeProducer, attack_world, detector_config, file_mode_alerts


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


# --- alignment --------------------------------------------------------------------------------


def test_aligner_waits_for_partitions_that_may_hold_earlier_events():
    a = TimeAligner(max_wait_s=5, clock=Clock())
    a.add("p0", [(0, 100, "a0"), (1, 300, "a1")])
    a.add("p1", [(7, 200, "b0")])
    # p1 is not caught up: it may still hold events before 200
    assert [i for _, _, i, _ in a.release({"p0": True, "p1": False})] == ["a0"]
    assert a.positions() == {"p0": 1, "p1": 7}
    a.add("p1", [(8, 400, "b1")])
    assert [i for _, _, i, _ in a.release({"p0": True, "p1": False})] == ["b0", "a1"]
    assert a.positions() == {"p0": 2, "p1": 8}
    assert [i for _, _, i, _ in a.release({"p0": True, "p1": True})] == ["b1"]
    assert a.positions() == {"p0": 2, "p1": 9}


def test_aligner_releases_per_partition_prefixes_in_offset_order():
    a = TimeAligner(max_wait_s=5, clock=Clock())
    a.add("p0", [(0, 100, "x"), (1, 500, "late-partner"), (2, 150, "behind")])
    a.add("p1", [(0, 200, "y")])
    out = a.release({"p0": True, "p1": False})  # horizon 200: 'behind' waits behind offset 1
    assert [i for _, _, i, _ in out] == ["x"]
    assert a.positions()["p0"] == 1  # never past an unreleased record: it can be committed


def test_aligner_does_not_wait_forever_for_a_silent_partition_but_does_during_an_outage():
    clock = Clock()
    a = TimeAligner(max_wait_s=5, clock=clock)
    a.track("quiet", 0)
    a.add("busy", [(0, 100, "e")])
    assert a.release({"busy": True, "quiet": False}) == []  # its first records' time is unknown
    clock.now = 10.0  # nothing from anyone (the broker away, or a long batch): keep waiting
    assert a.release({"busy": True, "quiet": False}) == []
    a.add("busy", [(1, 200, "f")])  # back: the first to deliver does not make the others late
    assert a.release({"busy": True, "quiet": False}) == []
    for offset, now in ((2, 13.0), (3, 16.0)):  # the busy one keeps delivering, the quiet one not
        clock.now = now
        a.add("busy", [(offset, 100 * offset + 100, "gh"[offset - 2])])
    assert [i for _, _, i, _ in a.release({"busy": True, "quiet": False})] == ["e", "f", "g", "h"]


def test_aligner_releases_a_record_of_several_events_whole():
    """An array record (offset 0 of p0 holds three events) is never cut in two: the bound moves
    back to its earliest event for every partition, so time order across partitions holds and
    the committed offset is a record's."""
    a = TimeAligner(max_wait_s=5, clock=Clock())
    a.add("p0", [(0, 100, "a"), (0, 200, "b"), (0, 300, "c"), (1, 400, "d")])
    a.add("p1", [(0, 50, "x"), (1, 150, "y"), (2, 250, "z")])
    # the horizon is 250 (p1's latest, not caught up): it would cut p0's record 0 after "b"
    out = a.release({"p0": True, "p1": False})
    assert [i for _, _, i, _ in out] == ["x"]  # only what lies before the record's first event
    assert a.positions() == {"p0": 0, "p1": 1}
    a.add("p1", [(3, 350, "w")])
    out = a.release({"p0": True, "p1": False})  # horizon 350: record 0 of p0 is whole before it
    assert [i for _, _, i, _ in out] == ["a", "y", "b", "z", "c"]
    assert a.positions() == {"p0": 1, "p1": 3}
    assert [i for _, _, i, _ in a.release({"p0": True, "p1": True})] == ["w", "d"]


def test_aligner_keeps_releasing_when_arrays_overlap_like_bricks():
    """Arrays of successive publish calls may overlap in time (one source lagging another):
    stepping the bound back record by record would reach the start of the buffer and release
    nothing until every partition is caught up. After one step per partition the straddling
    records are held whole instead, and the rest goes on."""
    a = TimeAligner(max_wait_s=5, clock=Clock())
    # p0's arrays cover [0,100), [100,200)...; p1's are shifted by half a record: bricks
    for k in range(10):
        a.add("p0", [(k, 100 * k + t, f"a{k}.{t}") for t in range(0, 100, 10)])
        a.add("p1", [(k, 100 * k + 50 + t, f"b{k}.{t}") for t in range(0, 100, 10)])
    out = a.release({"p0": False, "p1": False})
    assert len(out) > 100, "most of it must come out before the partitions are caught up"
    per_record = Counter((p, offset) for offset, _, _, p in out)
    assert set(per_record.values()) == {10}, "whole records only"
    assert a.positions()["p0"] == max(o for q, o in per_record if q == "p0") + 1


def test_aligner_forgets_revoked_partitions():
    a = TimeAligner(clock=Clock())
    a.add("p0", [(5, 1, "a")])
    a.forget(["p0"])
    assert a.release({}) == [] and a.positions() == {}


# --- records ------------------------------------------------------------------------------------


def _event(**fields) -> dict:
    e = new_event()
    e.update(ts=1_700_000_000_000_000, event_id="e1", source="k8s", tenant="prod", principal="system:serviceaccount:a:b",
             token_id="jti", action="get:pods", outcome="success")
    e.update(fields)
    return e


def test_event_records_round_trip_and_bad_ones_say_why():
    e = _event()
    assert decode_event(encode_event(e)) == e
    assert decode_event(encode_event(e | {"future_field": 1})) == e
    for value, expected in [(b"{nope", "not JSON"), (b"[1]", "not an object"), (orjson.dumps({"ts": 1}), "missing fields"),
                            (encode_event(e | {"ts": "2024-01-01"}), "ts is str"),
                            (encode_event(e | {"source": "mainframe"}), "unknown source"), (None, "empty")]:
        with pytest.raises(BadRecord, match=expected):
            decode_event(value)


def test_decode_row_equals_decode_event_and_refuses_alike():
    """The typed fast decode makes the same row as the dict path, and whatever it cannot type
    is refused by the dict path with the same reason (or left to the batch's schema check)."""
    e = _event(lineage_kind="issued", lineage_token="ASIA1", status_code=None, read_only=False)
    assert decode_row(encode_event(e)) == tuple(e[f] for f in FIELDS)
    assert decode_row(encode_event(e | {"future_field": [1, {"x": 2}]})) == tuple(e[f] for f in FIELDS)
    for value, expected in [(b"{nope", "not JSON"), (b"[1]", "not an object"), (orjson.dumps({"ts": 1}), "missing fields"),
                            (encode_event(e | {"ts": "2024-01-01"}), "ts is str"), (encode_event(e | {"ts": True}), "ts is bool"),
                            (encode_event(e | {"source": "mainframe"}), "unknown source"), (None, "empty")]:
        with pytest.raises(BadRecord, match=expected):
            decode_row(value)
    # typed decode refuses, the dict path accepts, the schema check sets it aside
    odd = decode_row(encode_event(e | {"status_code": "teapot"}))
    table, rejected = rows_table([decode_row(encode_event(e)), odd])
    assert table.num_rows == 1 and [i for i, _ in rejected] == [1]
    huge = decode_row(encode_event(e | {"status_code": 1 << 40}))
    assert rows_table([huge])[0].num_rows == 0
    # what the typed decode would let through but orjson refuses: a bad value in an unknown
    # field, an integer beyond 64 bits (a float to orjson); and no RecursionError escapes
    body = encode_event(e)[:-1]
    for value in (body + b',"x":1e400}', body + b',"x":"\\ud800"}', json.dumps(e | {"ts": 1 << 64}).encode()):
        with pytest.raises(BadRecord):
            decode_row(value)
    deep = body + b',"x":' + b"[" * 1000 + b"]" * 1000 + b"}"
    assert decode_row(deep) == tuple(decode_event(deep)[f] for f in FIELDS)


def test_array_records_decode_to_rows_and_a_bad_event_costs_only_itself():
    events = [_event(event_id=f"e{i}", ts=1_700_000_000_000_000 + i) for i in range(4)]
    value = encode_array([encode_event(e) for e in events])
    assert decode_rows(value) == [decode_row(encode_event(e)) for e in events]
    assert decode_rows(encode_event(events[0])) == [decode_row(encode_event(events[0]))]  # the one-event form
    mixed = orjson.dumps(events[:2] + [{"ts": "yesterday", "source": "k8s"}, 7] + events[2:])
    rows = decode_rows(mixed)
    assert [type(r).__name__ for r in rows] == ["tuple", "tuple", "BadRecord", "BadRecord", "tuple", "tuple"]
    assert rows[2].reason == "bad-event" and "missing fields" in rows[2].detail
    assert [r[1] for r in rows if type(r) is tuple] == ["e0", "e1", "e2", "e3"]
    for broken in (b"[{not json", b"[" * 100_000, None, b"[]"):
        out = decode_rows(broken)
        assert len(out) == 1 and type(out[0]) is BadRecord and out[0].raw is None  # the record is the raw
    # an element that orjson and msgspec refuse (a lone surrogate) costs only itself
    surrogate = b'{"ts": 1, "source": "k8s", "x": "\\ud800"}'
    value = encode_array([encode_event(events[0]), surrogate, encode_event(events[1])])
    rows = decode_rows(value)
    assert [type(r).__name__ for r in rows] == ["tuple", "BadRecord", "tuple"]
    assert b"ud800" in rows[1].raw and rows[0][1] == "e0" and rows[2][1] == "e1"


def test_rows_table_sets_aside_rows_the_schema_rejects():
    good, bad = _event(), _event(event_id="e2", status_code="teapot")
    table, rejected = rows_table([tuple(e[f] for f in FIELDS) for e in (good, bad, good)])
    assert table.num_rows == 2 and [i for i, _ in rejected] == [1]


def test_facts_are_lineage_and_pod_deletions():
    assert is_fact(_event(lineage_kind="issued", lineage_token="ASIA1"))
    assert is_fact(_event(action="delete:pods"))
    assert not is_fact(_event())


def test_dead_letters_carry_reason_and_origin_and_no_secret():
    raw = b'{"user": {"token": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"}, "kind": 0}'
    value, headers = dead_letter(raw, "unknown-shape", "no handler", "audit.k8s/2/41", "normalize", "k8s")
    headers = dict(headers)
    assert headers["reason"] == b"unknown-shape" and headers["origin"] == b"audit.k8s/2/41"
    assert b"eyJhbGci" not in value and b"[REDACTED]" in value


# --- settings and keys --------------------------------------------------------------------------


def test_kafka_settings_from_env_yaml_and_secrets(tmp_path, monkeypatch):
    path = tmp_path / "tokenhawk.yaml"
    path.write_text("kafka:\n  bootstrap_servers: k1:9093,k2:9093\n  security_protocol: SASL_SSL\n"
                    "  sasl_mechanism: SCRAM-SHA-512\n  sasl_plain_username: th\n  topics: {events: ev}\n")
    monkeypatch.setenv("TOKENHAWK_KAFKA__SASL_PLAIN_PASSWORD", "s3cret-pw")
    monkeypatch.setenv("TOKENHAWK_KAFKA__PARTITIONS", "12")
    kafka = load_settings(path).kafka
    assert kafka.partitions == 12 and kafka.topics.events == "ev" and kafka.topics.alerts == "tokenhawk.alerts"
    assert "s3cret-pw" not in repr(kafka) and "s3cret-pw" not in kafka.model_dump_json()
    client = kafka.client_kwargs()
    assert client["bootstrap_servers"] == ["k1:9093", "k2:9093"]
    assert client["sasl_plain_password"] == "s3cret-pw" and client["ssl_check_hostname"] is True
    consumer = kafka.consumer_kwargs("g", max_poll_records=7)
    assert consumer["enable_auto_commit"] is False and consumer["max_poll_records"] == 7
    assert kafka.producer_kwargs()["acks"] == "all"


def test_kafka_settings_reject_unknown_keys(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("kafka:\n  bootstrap_server: typo:9092\n")
    with pytest.raises(ConfigError, match="bootstrap_server"):
        load_settings(path)
    with pytest.raises(ValueError, match="unknown sources"):
        KafkaConfig(topics={"raw": {"mainframe": "audit.zos"}})


def test_partition_of_a_principal_is_kafkas_default_partitioner():
    from kafka.partitioner.default import DefaultPartitioner

    class Cluster:
        def topics(self):
            return {"t"}

        def partitions_for_topic(self, topic):
            return set(range(6))

        available_partitions_for_topic = partitions_for_topic

    pmap = PartitionMap(6)
    for principal in ("system:serviceaccount:a:b", "arn:aws:iam::1:role/x", "sa@p.iam.gserviceaccount.com"):
        key = principal_key("k8s", "prod", principal)
        expected = DefaultPartitioner().partition("t", None, key.encode(), None, None, Cluster())
        assert pmap(key) == partition_for(key.encode(), 6) == expected


# --- state records: exact resume ------------------------------------------------------------------


@pytest.mark.parametrize("cut", [500, 1100, 1800])
def test_partition_records_resume_exactly_where_the_detector_was(cut):
    """Snapshot every partition's record mid-stream (during learning, before the forests, after
    them), restore them all into a new detector, go on: the alerts are the file mode's."""
    events = attack_world()
    want = file_mode_alerts(events)
    table = to_table(events)
    owner = PartitionMap(3)
    first, alerts = Detector(detector_config()), {}
    for offset in range(0, cut, 400):
        alerts.update((a["alert"]["id"], a) for a in first.process(table.slice(offset, min(400, cut - offset))))
    records = [encode_record(partition_state(first, lambda key, p=p: owner(key) == p)) for p in range(3)]
    forests = encode_record(forests_state(first))
    second = Detector(detector_config())
    restore_forests(second, decode_record(forests))
    restore_partitions(second, [decode_record(r) for r in records])
    for offset in range(cut, table.num_rows, 400):
        alerts.update((a["alert"]["id"], a) for a in second.process(table.slice(offset, 400)))
    alerts.update((a["alert"]["id"], a) for a in second.flush())
    assert alerts == want


def test_partition_records_hold_only_their_principals():
    events = attack_world()
    detector = Detector(detector_config())
    detector.process(to_table(events[:1500]))
    owner = PartitionMap(3)
    held = [set(partition_state(detector, lambda key, p=p: owner(key) == p)["principals"]) for p in range(3)]
    assert set().union(*held) == set(detector.principals)
    assert sum(map(len, held)) == len(detector.principals)
    assert detector.forests and partition_state(detector, lambda key: True)["shared"]["forests"] == {}
    assert set(forests_state(detector)["forests"]) == set(detector.forests)  # a record of their own


# --- metrics --------------------------------------------------------------------------------------


def test_metrics_use_the_injected_registry_and_serve_it():
    registry = CollectorRegistry()
    metrics = StreamMetrics(registry)
    metrics.consumed.labels("detect", "k8s").inc(3)
    metrics.alerts.labels("high").inc()
    port = metrics.serve(0, "127.0.0.1")
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    finally:
        metrics.close()
    assert 'tokenhawk_stream_records_consumed_total{processor="detect",source="k8s"} 3.0' in body
    assert 'tokenhawk_stream_alerts_total{severity="high"} 1.0' in body
    # nothing went to the process-wide default registry
    from prometheus_client import REGISTRY

    assert REGISTRY.get_sample_value("tokenhawk_stream_alerts_total", {"severity": "high"}) is None


def test_no_metric_label_can_name_a_token_or_principal():
    metrics = StreamMetrics(CollectorRegistry())
    allowed = {"processor", "source", "reason", "severity", "topic", "partition", "kind"}
    for metric in metrics.registry.collect():
        collector = metrics.registry._names_to_collectors[metric.name]  # noqa: SLF001 - label names
        assert set(getattr(collector, "_labelnames", ())) <= allowed, metric.name


def test_fields_are_the_event_contract():
    assert set(orjson.loads(encode_event(_event()))) == set(FIELDS)


# --- arrays on the events topic -----------------------------------------------------------------


def test_publisher_cuts_every_partitions_arrays_at_the_same_moment():
    """With events_per_record > 1 each record is one partition's events in time order, and all
    partitions' arrays are cut together between two distinct times: every record of a later cut
    is later than every record of an earlier one, which lets the aligner release whole records."""
    from pipelines.stream.normalize import EventPublisher

    events = attack_world()
    shuffled = events[::2] + events[1::2]  # publish sorts them by time first
    producer = FakeProducer()
    config = KafkaConfig(events_per_record=50)
    assert EventPublisher(config, producer).publish(shuffled) == len(events)
    arrays = [(s.partition, orjson.loads(s.value)) for s in producer.sent if s.topic == config.topics.events]
    assert all(s.key is None for s in producer.sent if s.topic == config.topics.events)
    assert sorted(e["event_id"] for _, array in arrays for e in array) == sorted(e["event_id"] for e in events)
    owner = PartitionMap(3)
    cuts, spans = [], []  # consecutive records of distinct partitions form one cut
    for partition, array in arrays:
        times = [e["ts"] for e in array]
        assert times == sorted(times) and len(array) <= 50 + 5  # ties may stretch an array a little
        assert {owner(principal_key(e["source"], e["tenant"], e["principal"])) for e in array} == {partition}
        if not cuts or partition in cuts[-1]:
            cuts.append(set())
            spans.append([times[0], times[-1]])
        cuts[-1].add(partition)
        spans[-1] = [min(spans[-1][0], times[0]), max(spans[-1][1], times[-1])]
    assert len(spans) > 10
    assert all(earlier[1] < later[0] for earlier, later in zip(spans, spans[1:]))
    facts = [orjson.loads(v) for v in producer.values(config.topics.facts)]
    assert facts and all(is_fact(f) for f in facts)

    # large events: arrays are cut sooner, so that none passes MAX_ARRAY_BYTES
    from pipelines.stream.normalize import MAX_ARRAY_BYTES

    big = [dict(e, user_agent="x" * 60_000) for e in events[:60]]
    producer = FakeProducer()
    EventPublisher(KafkaConfig(events_per_record=50), producer).publish(big)
    values = producer.values(config.topics.events)
    assert all(len(v) <= MAX_ARRAY_BYTES for v in values) and len(values) > 3
    assert sorted(e["event_id"] for v in values for e in orjson.loads(v)) == sorted(e["event_id"] for e in big)
    for v in values:
        times = [e["ts"] for e in orjson.loads(v)]
        assert times == sorted(times)
