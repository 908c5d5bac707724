"""The normalize processor: raw audit-log topics → `tokenhawk.events` (+ facts), bad records → DLQ.

Per poll: every raw record goes through the same `Normalizer` and `StageDeduper` as a file
replay (origin `topic/partition/offset`); events are sent keyed by principal (or as arrays per
partition, see `kafka.events_per_record`); records that
cannot become events go to the dead-letter topic with the reason and origin in headers (the
record's text redacted and clipped as value; the full record stays at its origin offset).
Offsets are committed only after the producer has had every record acknowledged, and never
past a K8s stage copy the deduper still holds (its raw record is read again after a crash).

Delivery is at-least-once: a crash between the producer's acknowledgement and the commit makes
the next owner publish that batch's events again (same event ids).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any, Iterable

from detector.normalize import Normalizer, StageDeduper

from .codec import dead_letter, encode_array, encode_event, is_fact
from .config import KafkaConfig
from .metrics import StreamMetrics
from .topics import PartitionMap, principal_key

log = logging.getLogger(__name__)

PROCESSOR = "normalize"
# an array record stays under the producer's max_request_size and the broker's
# max.message.bytes (1 MiB by default): all partitions' arrays are cut once one would grow past it
MAX_ARRAY_BYTES = 900_000


class EventPublisher:
    """Sends events to the events topic keyed by principal, and facts to the facts topic."""

    def __init__(self, config: KafkaConfig, producer, metrics: StreamMetrics | None = None,
                 processor: str = PROCESSOR):
        self.config = config
        self.producer = producer
        self.metrics = metrics
        self.processor = processor
        self.partition_of = PartitionMap(len(producer.partitions_for(config.topics.events)))
        self.sent: Counter = Counter()
        self.facts_sent = 0

    def publish(self, events: Iterable[dict[str, Any]]) -> int:
        """Send events in their order. With `events_per_record` > 1, in time order, as arrays per
        partition, all partitions' arrays cut at the same moment, between two distinct times,
        once one of them holds that many events or MAX_ARRAY_BYTES: records of different
        partitions then cover the same spans of time, so the detector's aligner can release
        whole records in exact time order without holding back the rest (see align.py)."""
        topics = self.config.topics
        send = self.producer.send
        partition_of = self.partition_of
        per_record = self.config.events_per_record
        arrays: dict[int, list[bytes]] = {}  # partition → its events' JSON, in time order
        sizes: Counter = Counter()

        def send_arrays() -> None:
            for partition, array in arrays.items():
                send(topics.events, value=encode_array(array), partition=partition)
            arrays.clear()
            sizes.clear()

        if per_record > 1:
            events = sorted(events, key=lambda e: e["ts"])
        full, previous_ts = False, None
        per_source: Counter = Counter()
        n = 0
        for event in events:
            key = principal_key(event["source"], event["tenant"], event["principal"])
            partition = partition_of(key)
            kbytes = key.encode()
            value = encode_event(event)
            if is_fact(event):  # before the event: a detector must not see a use before its birth
                send(topics.facts, key=kbytes, value=value)
                self.facts_sent += 1
            if per_record == 1:
                send(topics.events, key=kbytes, value=value, partition=partition)
            else:
                ts = event["ts"]
                if (full or sizes[partition] + len(value) > MAX_ARRAY_BYTES) and arrays and ts != previous_ts:
                    send_arrays()  # (events of one instant are never split: an array may run over)
                    full = False
                previous_ts = ts
                arrays.setdefault(partition, []).append(value)
                sizes[partition] += len(value) + 1
                full = full or len(arrays[partition]) >= per_record
            per_source[event["source"]] += 1
            n += 1
        send_arrays()
        self.sent.update(per_source)
        if self.metrics is not None:
            for source, count in per_source.items():
                self.metrics.produced.labels(self.processor, "event", source).inc(count)
        return n


class NormalizeProcessor:
    def __init__(self, config: KafkaConfig, metrics: StreamMetrics, *, producer=None, consumer=None):
        from kafka import KafkaConsumer, KafkaProducer

        self.config = config
        self.metrics = metrics
        self.source_of = {topic: source for source, topic in config.topics.raw.items()}
        self.producer = producer or KafkaProducer(**config.producer_kwargs(batch_size=256 * 1024))
        self.consumer = consumer or KafkaConsumer(**config.consumer_kwargs(config.normalize_group))
        self.consumer.subscribe(sorted(self.source_of))
        self.publisher = EventPublisher(config, self.producer, metrics)
        self.normalizer = Normalizer(on_quarantine=self._quarantine)
        self.dedup = StageDeduper()
        self._source: str | None = None
        self._next: dict[Any, int] = {}  # raw partition → offset after the last record handled
        self.records = 0
        self.dead_letters = 0
        self._skipped_seen: Counter = Counter()

    # --- per record ------------------------------------------------------------------------

    def _quarantine(self, reason: str, detail: str, origin: str, raw: Any) -> None:
        value, headers = dead_letter(raw, reason, detail, origin, PROCESSOR, self._source)
        self.producer.send(self.config.topics.dlq, value=value, headers=headers)
        self.dead_letters += 1
        self.metrics.dead_lettered.labels(PROCESSOR, self._source or "unknown", reason).inc()

    # --- per batch -------------------------------------------------------------------------

    def step(self, timeout_ms: int = 500) -> int:
        """Poll once, normalize, publish, flush, commit. Returns the records consumed."""
        polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=self.config.max_poll_records)
        if not polled:
            self._update_lag()
            return 0
        started = time.perf_counter()
        ctx = self.normalizer.ctx
        feed = self.normalizer.feed
        default_tenant = self.config.default_tenant
        consumed: Counter = Counter()
        n = 0
        for tp, records in polled.items():
            source = self._source = self.source_of.get(tp.topic, "unknown")
            prefix = f"{tp.topic}/{tp.partition}/"
            for record in records:
                before = len(ctx.rows)
                feed(record.value if record.value is not None else b"", prefix + str(record.offset))
                tenant = _header(record.headers, "tenant") or default_tenant
                if tenant is not None:
                    self.normalizer.fill_tenant(tenant, since=before)
            consumed[source] += len(records)
            n += len(records)
            self._next[tp] = records[-1].offset + 1
            self._count_skips(source)
        self._source = None
        events = self.dedup.push(self.normalizer.take())
        self.publisher.publish(events)
        self.producer.flush()  # every event and dead letter acknowledged before the commit
        self._commit()
        self.records += n
        for source, count in consumed.items():
            self.metrics.consumed.labels(PROCESSOR, source).inc(count)
        self.metrics.batch_seconds.labels(PROCESSOR).observe(time.perf_counter() - started)
        self.metrics.batch_records.labels(PROCESSOR).observe(n)
        self._update_lag()
        return n

    def _commit(self) -> None:
        from kafka import TopicPartition
        from kafka.structs import OffsetAndMetadata

        offsets = dict(self._next)
        # a held stage copy must be read again after a crash: commit no further than its record
        for event in getattr(self.dedup, "_pending", {}).values():
            topic, partition, offset = _parse_origin(event.get("origin"))
            if topic is None:
                continue
            tp = TopicPartition(topic, partition)
            if tp in offsets and offset < offsets[tp]:
                offsets[tp] = offset
        if not offsets:
            return
        try:
            self.consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()})
        except Exception as exc:  # noqa: BLE001 - a rebalance: the next owner re-reads, at-least-once
            log.warning("offset commit failed (%s); the batch may be normalized again", exc)

    def _count_skips(self, source: str) -> None:
        for reason, count in self.normalizer.ctx.skipped.items():
            new = count - self._skipped_seen[reason]
            if new:
                self.metrics.skipped.labels(source, reason).inc(new)
                self._skipped_seen[reason] = count

    def _update_lag(self) -> None:
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            position = self._next.get(tp)
            if high is not None and position is not None:
                self.metrics.lag.labels(PROCESSOR, tp.topic, str(tp.partition)).set(max(0, high - position))

    def lag(self) -> int | None:
        """Records known to be waiting on the assigned partitions (None: not known yet)."""
        total = 0
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            if high is None:
                return None
            position = self._next.get(tp)
            if position is None:
                position = self.consumer.position(tp)
            total += max(0, high - position)
        return total

    def flush_held(self) -> None:
        """End of input (--once): release held stage copies, publish, commit."""
        events = self.dedup.flush()
        if events:
            self.publisher.publish(events)
        self.producer.flush()
        self._commit()

    def close(self) -> None:
        try:
            self.producer.flush()
            self._commit()
        finally:
            self.consumer.close(autocommit=False)
            self.producer.close()


def _header(headers, name: str) -> str | None:
    for key, value in headers or ():
        if key == name and value:
            return value.decode("utf-8", errors="replace")
    return None


def _parse_origin(origin: str | None) -> tuple[str | None, int, int]:
    """'topic/partition/offset[#n]' → (topic, partition, offset)."""
    if not origin:
        return None, 0, 0
    try:
        head = origin.split("#", 1)[0]
        topic, partition, offset = head.rsplit("/", 2)
        return topic, int(partition), int(offset)
    except ValueError:
        return None, 0, 0
