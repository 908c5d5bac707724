"""The detect processor: `tokenhawk.events` (consumer group) → `tokenhawk.alerts`, state on
`tokenhawk.state`.

Each poll is one micro-batch for the same `Detector.process` the file mode calls. Before that:
  * records wait in a `TimeAligner` until the owned partitions agree on event time, so the
    detector sees time order as in a file replay (see align.py);
  * `tokenhawk.facts` is read in full by every instance (all partitions, no group) and applied
    with `Detector.observe_facts`: token births and pod deletions concern a principal that
    another instance may own (IRSA: the service account's AssumeRoleWithWebIdentity issues the
    key the role principal uses; a controller deletes the pod whose token a service account
    holds). The owner of the issuing principal sees the same event twice; noting a fact twice
    changes nothing.

Delivery: alerts of a batch are sent as soon as it is processed (within `linger_ms`). Every
`snapshot_interval_s` / `snapshot_every_events` the state of each owned partition is written
with the offsets it corresponds to, the producer is flushed (every alert and state record
acknowledged), and only then are offsets committed. After a crash
the next owner restores the snapshot and re-reads from its offsets: the re-processed events
rebuild exactly the same state and re-emit the same alert documents under the same
deterministic ids, which a consumer keeping the last value per key (Elasticsearch by id, a
compacted topic) absorbs. On a rebalance, revoked partitions are snapshotted inside the
callback, before any other member is assigned them.

Per instance, not global (exact with one instance, approximate with several): peer-group
baselines, population statistics (action rarity, fleet-wide novelty shifts), cluster pod
networks, and online-trained isolation forests are learned from the principals this instance
owns (a new owner starts from the previous owner's copy).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

import pyarrow.compute as pc

from detector.alert import Alert
from detector.config import DetectorConfig
from detector.detect.engine import Detector
from detector.detect.forest import preload_fitting
from detector.events import event_of
from detector.inventory import Inventory
from detector.inventory import snapshot as inventory_snapshot
from detector.inventory.config import InventoryConfig

from .align import TimeAligner
from .background import ForkedTask, Record, forking_available
from .codec import BadRecord, dead_letter, decode_rows, encode_alert, rows_table
from .config import KafkaConfig
from .metrics import StreamMetrics
from .state import StateStore, restore_forests, restore_partitions
from .topics import PartitionMap, partition_count

log = logging.getLogger(__name__)

PROCESSOR = "detect"
_NO_TS = -(2**62)


class _Bad:
    __slots__ = ("reason", "detail", "raw", "origin")

    def __init__(self, reason: str, detail: str, raw: Any, origin: str):
        self.reason, self.detail, self.raw, self.origin = reason, detail, raw, origin


class DetectProcessor:
    def __init__(self, config: KafkaConfig, detector_config: DetectorConfig, metrics: StreamMetrics, *,
                 forests: dict | None = None, instance: str | None = None,
                 inventory_config: InventoryConfig | None = None):
        from kafka import KafkaConsumer, KafkaProducer

        self.config = config
        self.metrics = metrics
        self.topics = config.topics
        self.instance = instance or f"{socket.gethostname()}-{os.getpid()}"
        record_max = config.state_max_bytes + (1 << 20)
        self.producer = KafkaProducer(**config.producer_kwargs(max_request_size=record_max))
        self.consumer = KafkaConsumer(**config.consumer_kwargs(config.detect_group))
        self.facts = KafkaConsumer(**config.consumer_kwargs(None))
        # end offsets are asked on a client of their own: behind the fetchers' large responses
        # a ListOffsets request waits for seconds
        self.offsets = KafkaConsumer(**config.consumer_kwargs(None))

        def state_reader():
            return KafkaConsumer(**config.consumer_kwargs(None, max_partition_fetch_bytes=record_max,
                                                          fetch_max_bytes=record_max))

        self.store = StateStore(config, self.topics.state, self.producer, state_reader, self.instance)
        self.detector_config = detector_config
        self.given_forests = forests
        if not forests:
            # the forests are fitted in the loop when learning ends; scikit-learn's import alone
            # takes 1-3 s, better paid at start than as a stall of the live stream
            preload_fitting()
        self.inventory_config = inventory_config or InventoryConfig()
        self._new_detector()
        self._inventory_as_of: dict[int, int] = {}  # partition → event time of its last inventory emission
        self.aligner = TimeAligner(config.align_max_wait_s)
        self.owner_of = PartitionMap(partition_count(self.consumer, self.topics.events))
        for topic in (self.topics.events, self.topics.facts):
            partition_count(self.offsets, topic)  # its metadata, before the first question
        self.owned: set[int] = set()
        self.assigned_once = False
        self._unknown_position: set = set()
        self._facts_started = False
        self._paused: set = set()
        self._ends: dict = {}  # end offsets of the inputs, asked at every batch
        self._reported_at = time.monotonic()
        self._end_offsets_warned = 0.0
        self.events = 0
        self.alerts = 0
        self.dead_letters = 0
        self._since_snapshot = 0
        self._snapshot_at = time.monotonic()
        self._inventory_at = 0.0  # emitted with the first snapshot, then every inventory_interval_s
        self._finished = False
        self._stale = False  # partitions were lost: memory is no longer the truth
        self._pending: _PendingSnapshot | None = None  # a snapshot being built in a forked child
        self._background = config.snapshot_in_background and forking_available()
        self.consumer.subscribe([self.topics.events], listener=_Listener(self))

    # --- partitions moving in and out ------------------------------------------------------

    def _tp(self, partition: int):
        from kafka import TopicPartition

        return TopicPartition(self.topics.events, partition)

    def on_revoked(self, partitions: set[int]) -> None:
        """Inside the rebalance: save the state of what we may lose, so the next owner has it."""
        self._cancel_pending()  # the records below supersede it
        if partitions and not self._finished and not self._stale:
            self.checkpoint(partitions & self.owned, commit=False)

    def on_lost(self, partitions: set[int]) -> None:
        """Evicted from the group (e.g. the broker was away longer than the session timeout):
        someone else may own these already, so write nothing; the next assignment rebuilds the
        state from the snapshots."""
        self._stale = True
        self._cancel_pending()
        log.warning("lost events partitions %s; state will be rebuilt from the snapshots", sorted(partitions))

    def on_assigned(self, partitions: set[int]) -> None:
        """Carry on if nothing moved; otherwise rebuild the detector from the snapshots of every
        assigned partition (kept ones were just snapshotted in `on_revoked`), so the shared
        facts come back exactly as they were written, never merged twice."""
        self.metrics.rebalances.labels(PROCESSOR).inc()
        self.assigned_once = True
        if partitions == self.owned and not self._stale and self._facts_started:
            for tp, position in self.aligner.fetched.items():  # eager rebalancing reset them to the commit
                if tp.topic == self.topics.events:
                    self.consumer.seek(tp, position)
            return
        self._cancel_pending()
        states, forests = self.store.load(partitions, self.topics.events) if partitions else ({}, None)
        self._new_detector()
        if forests is not None:
            restore_forests(self.detector, forests)
        if states:
            restore_partitions(self.detector, states.values(), self.inventory)
        self._inventory_as_of = {}  # the new set of partitions is emitted whole once
        self.aligner = TimeAligner(self.config.align_max_wait_s)
        self._unknown_position.clear()
        for consumer in (self.consumer, self.facts):
            if self._paused:
                consumer.resume(*[tp for tp in self._paused if tp in consumer.assignment()])
        self._paused.clear()
        for p in sorted(partitions):
            tp = self._tp(p)
            state = states.get(p)
            if state is not None:
                offset = state["stream_offsets"]["offset"]
                self.consumer.seek(tp, offset)
                self.aligner.track(tp, offset)
            else:
                self.aligner.track(tp, None)
                self._unknown_position.add(tp)
        self._start_facts(states.values())
        moved = {"kept": sorted(partitions & self.owned), "added": sorted(partitions - self.owned),
                 "handed_over": sorted(self.owned - partitions)}
        self.owned = set(partitions)
        self._stale = False
        self._since_snapshot = 0
        self.metrics.partitions.labels(PROCESSOR).set(len(self.owned))
        log.info("assigned events partitions %s (state restored for %s)", sorted(partitions), sorted(states),
                 extra={"fields": {"partitions": sorted(partitions), "restored": sorted(states), **moved,
                                   "principals": len(self.detector.principals)}})

    def _new_detector(self) -> None:
        # the inventory is kept by the detector's own pass (an observer), like in file mode
        self.inventory = Inventory(self.inventory_config)
        self.detector = Detector(self.detector_config, forests=self.given_forests, observers=[self.inventory])

    def emit_inventory(self, partitions: set[int]) -> int:
        """Send the inventory of these partitions' principals to the compacted inventory topic:
        each credential and principal whose view changed since that partition's last emission
        (all of them the first time after an assignment). Returns the number of records sent."""
        records = list(self._inventory_records(partitions))
        self.store.send(records)
        self._inventory_emitted(partitions)
        return len(records)

    def _inventory_records(self, partitions: set[int]):
        detector = self.detector
        if detector.watermark is None:
            return
        for partition in sorted(partitions):
            since = self._inventory_as_of.get(partition)
            keep = (lambda key, p=partition: self.owner_of(key) == p)
            for key, value in inventory_snapshot.messages(self.inventory, detector, as_of=detector.watermark,
                                                          since=since, keep=keep):
                yield Record(self.topics.inventory, key, value)

    def _inventory_emitted(self, partitions: set[int], watermark: int | None = None) -> None:
        """The inventory of these partitions went out as of `watermark` (default: now)."""
        watermark = self.detector.watermark if watermark is None else watermark
        if watermark is not None:
            for partition in partitions:
                self._inventory_as_of[partition] = watermark

    def _start_facts(self, states) -> None:
        """Read every facts partition from where the restored state left it (the earliest of
        them: a fact noted twice changes nothing), or from the beginning without state."""
        from kafka import TopicPartition

        count = partition_count(self.facts, self.topics.facts)
        tps = [TopicPartition(self.topics.facts, q) for q in range(count)]
        if set(self.facts.assignment()) != set(tps):
            self.facts.assign(tps)
        positions: dict[int, int] = {}
        for state in states:
            for q, pos in state["stream_offsets"]["facts"].items():
                q = int(q)
                positions[q] = min(pos, positions.get(q, pos))
        for tp in tps:
            if tp.partition in positions:
                self.facts.seek(tp, positions[tp.partition])
                self.aligner.track(tp, positions[tp.partition])
            else:
                self.facts.seek_to_beginning(tp)
                self.aligner.track(tp, None)
                self._unknown_position.add(tp)
        self._facts_started = True

    # --- per batch -------------------------------------------------------------------------

    def step(self, timeout_ms: int = 500) -> int:
        """Poll, align, detect, produce alerts, maybe snapshot. Returns records consumed."""
        polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=self._records_for(self.config.max_poll_records))
        started = time.perf_counter()
        if self._pending is not None and self._pending.task.poll():
            self._complete_pending()
        if self._stale:  # evicted: nothing we hold may be processed or saved until reassigned
            return 0
        self._resolve_positions()
        n = self._take(polled)
        if self._facts_started:
            n += self._take(self.facts.poll(timeout_ms=0, max_records=self.config.max_poll_records))
        # drain what the fetcher already holds: the detector's cost is per batch as much as per event
        limit = self.config.max_poll_records
        while polled and self._held() < limit and time.perf_counter() - started < 0.1:
            polled = self.consumer.poll(timeout_ms=0, max_records=self._records_for(limit - self._held()))
            n += self._take(polled)
        self._pause_far_ahead()
        released = self.aligner.release(self._caught_up(), self._paused)
        if released:
            self._process(released)
        elif n == 0 and self._since_snapshot == 0:
            self._snapshot_at = time.monotonic()  # idle: nothing new to save
        self.metrics.held_back.set(self._held())
        if n or released:
            self.metrics.batch_seconds.labels(PROCESSOR).observe(time.perf_counter() - started)
            self.metrics.batch_records.labels(PROCESSOR).observe(len(released))
        self._update_lag()
        if self._snapshot_due():
            self.checkpoint(self.owned, background=self._background)
        self._report_progress()
        return n

    def _records_for(self, events: int) -> int:
        """How many records to poll for about this many events (max_poll_records counts events;
        a record may hold events_per_record of them)."""
        return max(1, events // self.config.events_per_record)

    def _take(self, polled) -> int:
        n = 0
        for tp, records in polled.items():
            if tp.topic == self.topics.events and tp.partition not in self.owned:
                continue  # fetched before a revocation
            self.aligner.add(tp, self._decode(tp, records))
            n += len(records)
        return n

    def _held(self) -> int:
        return sum(len(b) for b in self.aligner.buffers.values())

    def _report_progress(self, every_s: float = 30.0) -> None:
        now = time.monotonic()
        if now - self._reported_at < every_s:
            return
        self._reported_at = now
        held = sum(len(b) for b in self.aligner.buffers.values())
        log.info("detect: %d events, %d alerts, %d held back, lag %s", self.events, self.alerts, held, self.lag(),
                 extra={"fields": {"events": self.events, "alerts": self.alerts, "held_back": held, "lag": self.lag(),
                                   "partitions": sorted(self.owned), "paused": len(self._paused),
                                   "unknown_positions": len(self._unknown_position)}})

    def _decode(self, tp, records) -> list[tuple[int, int, Any]]:
        """(offset, event time, row or _Bad) per event; a record holding an array of events gives
        one entry per event, all with its offset (the aligner releases them together)."""
        entries = []
        last_ts = self.aligner.high.get(tp, _NO_TS)
        for record in records:
            offset = record.offset
            value = record.value
            rows = decode_rows(value)
            # a bad event takes the time of the good one before it in its array (or the first
            # good one after it): the aligner orders and cuts arrays by their events' times
            record_ts = None
            for index, row in enumerate(rows):
                if type(row) is BadRecord:
                    if record_ts is None:
                        record_ts = next((r[0] for r in rows if type(r) is not BadRecord), last_ts)
                    origin = f"{tp.topic}/{tp.partition}/{offset}" + (f"#{index}" if row.raw is not None else "")
                    raw = row.raw if row.raw is not None else (value or b"")
                    entries.append((offset, record_ts, _Bad(row.reason, row.detail, raw, origin)))
                    continue
                last_ts = record_ts = row[0]  # ts
                entries.append((offset, last_ts, row))
        return entries

    def _process(self, released) -> None:
        facts, events, where, bad = [], [], [], []
        facts_topic = self.topics.facts
        for offset, _, item, tp in released:
            if type(item) is _Bad:
                if tp.topic != facts_topic:  # the same record is dead-lettered by its events owner
                    bad.append(item)
            elif tp.topic == facts_topic:
                facts.append(item)
            else:
                events.append(item)
                where.append((tp, offset))
        table, rejected = rows_table(events)
        for index, detail in rejected:
            tp, offset = where[index]
            bad.append(_Bad("bad-event", detail, event_of(events[index]), f"{tp.topic}/{tp.partition}/{offset}"))
        if facts:
            facts_table, _ = rows_table(facts)
            self.detector.observe_facts(facts_table)
        alerts = self.detector.process(table)
        for item in bad:
            value, headers = dead_letter(item.raw, item.reason, item.detail, item.origin, PROCESSOR, None)
            self.producer.send(self.topics.dlq, value=value, headers=headers)
            self.metrics.dead_lettered.labels(PROCESSOR, "unknown", item.reason).inc()
        self._send_alerts(alerts)  # out within linger_ms; acknowledged before any commit (checkpoint)
        self.dead_letters += len(bad)
        self.events += table.num_rows
        self._since_snapshot += table.num_rows + len(facts)
        if table.num_rows:
            counts = pc.value_counts(table.column("source"))
            for item in counts.to_pylist():
                self.metrics.consumed.labels(PROCESSOR, item["values"]).inc(item["counts"])
        self.metrics.state_principals.set(len(self.detector.principals))
        self.metrics.state_tokens.set(len(self.detector.tokens))
        if self.detector.watermark is not None:
            self.metrics.watermark_lag.set(time.time() - self.detector.watermark / 1e6)

    def _send_alerts(self, alerts: list[dict]) -> None:
        for alert in alerts:
            try:
                Alert.model_validate(alert)  # the contract is checked at the edge
            except Exception as exc:  # noqa: BLE001 - never lose it: dead-letter it with the reason
                value, headers = dead_letter(alert, "invalid-alert", str(exc), "detector", PROCESSOR, alert.get("token", {}).get("source"))
                self.producer.send(self.topics.dlq, value=value, headers=headers)
                continue
            key = alert["alert"]["id"].encode()
            self.producer.send(self.topics.alerts, key=key, value=encode_alert(alert))
            self.metrics.alerts.labels(alert["severity"]).inc()
            self.metrics.produced.labels(PROCESSOR, "alert", alert["token"]["source"]).inc()
        self.alerts += len(alerts)

    def _resolve_positions(self) -> None:
        for tp in list(self._unknown_position):
            consumer = self.facts if tp.topic == self.topics.facts else self.consumer
            if tp.topic == self.topics.events and tp.partition not in self.owned:
                self._unknown_position.discard(tp)
                continue
            position = consumer.position(tp)
            if position is not None:
                if tp not in self.aligner.next_offset:
                    self.aligner.next_offset[tp] = position
                    self.aligner.fetched[tp] = position
                self._unknown_position.discard(tp)

    def _inputs(self):
        for p in self.owned:
            yield self.consumer, self._tp(p)
        if self._facts_started:
            for tp in self.facts.assignment():
                yield self.facts, tp

    def _caught_up(self) -> dict:
        """Which inputs have nothing more to read. A high watermark from the last fetch above
        what we read means "behind" for sure; one we have reached may be stale (other
        partitions' fetches may already show later records), so those inputs' end offsets are
        asked for now (one request per batch at most): releasing past records we have not seen
        would make them late. A fact, written before the event that depends on it, is never
        overtaken either way. Inputs whose latest event time is past everything waiting do not
        matter and are not asked about."""
        aligner = self.aligner
        waiting = [aligner.high[tp] for tp, buffer in aligner.buffers.items() if buffer and tp in aligner.high]
        latest_waiting = max(waiting) if waiting else None
        out, unsure = {}, []
        for consumer, tp in self._inputs():
            fetched = aligner.fetched.get(tp)
            high = consumer.highwater(tp)
            if high is not None:
                self._ends[tp] = max(high, self._ends.get(tp, 0))
            own = aligner.high.get(tp)
            if (high is not None and fetched is not None and fetched < high) or \
                    (own is not None and latest_waiting is not None and own > latest_waiting):
                out[tp] = False  # behind, or holding back nothing that waits
            else:
                unsure.append((consumer, tp))
        ends = self._end_offsets(unsure) if unsure else {}
        for consumer, tp in unsure:
            end = ends.get(tp)
            fetched = aligner.fetched.get(tp)
            if end is not None:
                self._ends[tp] = max(end, self._ends.get(tp, 0))
                if fetched is not None and fetched < end and not aligner.buffered(tp):
                    # offsets without records (transaction markers, compaction) never arrive
                    position = consumer.position(tp, timeout_ms=200)
                    if position is not None and position >= end:
                        aligner.fetched[tp] = aligner.next_offset[tp] = fetched = position
            out[tp] = end is not None and fetched is not None and fetched >= end
        return out

    def _end_offsets(self, inputs) -> dict:
        try:
            return self.offsets.end_offsets([tp for _, tp in inputs], timeout_ms=5000)
        except Exception as exc:  # noqa: BLE001 - the broker is away: nothing counts as caught up
            if time.monotonic() - self._end_offsets_warned > 60:
                self._end_offsets_warned = time.monotonic()
                log.warning("end offsets unavailable (%r): waiting for every partition", exc)
            return {}

    def _pause_far_ahead(self) -> None:
        limit = self.config.max_buffered_per_partition
        for consumer, tp in self._inputs():
            buffered = self.aligner.buffered(tp)
            if tp not in self._paused and buffered >= limit:
                consumer.pause(tp)
                self._paused.add(tp)
            elif tp in self._paused and buffered < limit // 2:
                consumer.resume(tp)
                self._paused.discard(tp)

    def _update_lag(self) -> None:
        for _, tp in self._inputs():
            end = self._ends.get(tp)
            position = self.aligner.next_offset.get(tp)
            if tp.topic == self.topics.events and end is not None and position is not None:
                self.metrics.lag.labels(PROCESSOR, tp.topic, str(tp.partition)).set(max(0, end - position))

    def lag(self) -> int | None:
        """Records not yet processed on the inputs, as of the last batch (None: not known)."""
        total = 0
        for _, tp in self._inputs():
            end = self._ends.get(tp)
            position = self.aligner.next_offset.get(tp)
            if end is None or position is None:
                return None
            total += max(0, end - position)
        return total

    def idle(self) -> bool:
        return self.assigned_once and not any(self.aligner.buffers.values()) and self.lag() == 0

    # --- state -----------------------------------------------------------------------------

    def _snapshot_due(self) -> bool:
        if self._since_snapshot == 0 or self._pending is not None:
            return False
        return (self._since_snapshot >= self.config.snapshot_every_events
                or time.monotonic() - self._snapshot_at >= self.config.snapshot_interval_s)

    def checkpoint(self, partitions: set[int], commit: bool = True, background: bool = False) -> None:
        """Snapshot the partitions with their offsets, wait for the acks, then commit. In the
        `background`, the records are built by a forked child (see background.py) and sent,
        acknowledged and committed by a later step once it is done."""
        started = time.perf_counter()
        self._cancel_pending()  # only ever one snapshot in flight, the newest
        positions = self.aligner.positions()
        offsets = {p: positions[self._tp(p)] for p in partitions if self._tp(p) in positions}
        facts = {tp.partition: pos for tp, pos in positions.items() if tp.topic == self.topics.facts}
        if offsets:
            inventory = set()
            if time.monotonic() - self._inventory_at >= self.config.inventory_interval_s or not commit:
                inventory = set(offsets)
                self._inventory_at = time.monotonic()
            n_state = len(self.producer.partitions_for(self.topics.state))

            def build() -> list[Record]:
                records = self.store.records(self.detector, offsets, facts, self.owner_of, self.topics.events,
                                             self.inventory, n_state)
                return records + list(self._inventory_records(inventory))

            if background:
                # the inventory counts as emitted (as of now) only once the child's records are out
                self._pending = _PendingSnapshot(ForkedTask(build), offsets, commit, started, inventory,
                                                 self.detector.watermark)
            else:
                self._write(build(), offsets, commit)
                self._inventory_emitted(inventory)
        self._since_snapshot = 0
        self._snapshot_at = time.monotonic()
        self.metrics.snapshot_seconds.observe(time.perf_counter() - started)

    def _write(self, records: list[Record], offsets: dict[int, int], commit: bool) -> None:
        from kafka.structs import OffsetAndMetadata

        size = self.store.send(records)
        self.producer.flush()  # every alert sent so far and every state record acknowledged …
        for p in offsets:
            self.metrics.state_bytes.labels(str(p)).set(self.store.last_bytes.get(p, 0))
        if commit:  # … before the offsets move
            try:
                self.consumer.commit({self._tp(p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()})
            except Exception as exc:  # noqa: BLE001 - the snapshot holds the offsets; the commit only reports lag
                log.warning("offset commit failed (%s); the snapshot's offsets still apply", exc)
        log.debug("snapshot of partitions %s: %d bytes", sorted(offsets), size)

    def _complete_pending(self) -> None:
        pending, self._pending = self._pending, None
        started = time.perf_counter()
        try:
            records = pending.task.result()
        except Exception as exc:  # noqa: BLE001 - the state is still here: snapshot it now, in the loop
            log.warning("background snapshot failed (%s); snapshotting in the loop", str(exc).strip()[-500:])
            self._inventory_at = 0.0  # its inventory records were never sent: this snapshot sends them
            self.checkpoint(self.owned)
            return
        self._write(records, pending.offsets, pending.commit)
        self._inventory_emitted(pending.inventory, pending.watermark)
        self.metrics.snapshot_seconds.observe(time.perf_counter() - started)
        log.debug("background snapshot of partitions %s done %.2f s after the fork", sorted(pending.offsets),
                  time.perf_counter() - pending.started)

    def _cancel_pending(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.task.cancel()
            if pending.inventory:
                self._inventory_at = 0.0  # the next snapshot sends the inventory this one would have

    def finish(self, end_of_input: bool = False) -> None:
        """Snapshot and commit; with `end_of_input` (--once) also let waiting incidents decide
        the way a file replay ends (after the snapshot, so the stored state never has an end)."""
        self.checkpoint(self.owned)
        self._finished = True  # the revocation that closing triggers must not snapshot again
        if end_of_input:
            self._send_alerts(self.detector.flush(self._input_end_time()))
            self.emit_inventory(self.owned)
        self.producer.flush()

    def _input_end_time(self) -> int | None:
        """The latest event time in the whole events topic, read from every partition's last
        record (the input is produced in time order). A --once run ends there, as a replay of
        the same input does: an instance whose own partitions went quiet early still closes the
        incidents that the rest of the input's time would close."""
        tps = [self._tp(p) for p in range(self.owner_of.partitions)]
        try:
            ends = {tp: end for tp, end in self.offsets.end_offsets(tps, timeout_ms=5000).items() if end}
        except Exception as exc:  # noqa: BLE001 - without it the instance ends at its own latest event
            log.warning("could not read the input's end offsets (%s); ending at this instance's latest event", exc)
            return None
        if not ends:
            return None
        reader = self.offsets  # its last use: the processor is finishing
        latest, waiting = None, set(ends)
        try:
            reader.assign(list(ends))
            for tp, end in ends.items():
                reader.seek(tp, end - 1)
            deadline = time.monotonic() + 10
            while waiting and time.monotonic() < deadline:
                for tp, records in reader.poll(timeout_ms=500).items():
                    for record in records:
                        if record.offset == ends[tp] - 1:
                            waiting.discard(tp)
                            times = [row[0] for row in decode_rows(record.value) if type(row) is not BadRecord]
                            if times:  # none: a poison record last, that partition adds no time
                                latest = max(times) if latest is None else max(latest, *times)
        finally:
            reader.unsubscribe()
        return latest

    def close(self) -> None:
        self._cancel_pending()
        try:
            self.consumer.unsubscribe()  # leave the group now; revocation was handled in finish()
        except Exception:  # noqa: BLE001
            pass
        for closing in (lambda: self.consumer.close(autocommit=False), self.facts.close, self.offsets.close,
                        self.store.close, self.producer.close):
            try:
                closing()
            except Exception as exc:  # noqa: BLE001 - closing must go on
                log.warning("while closing: %s", exc)


class _PendingSnapshot:
    __slots__ = ("task", "offsets", "commit", "started", "inventory", "watermark")

    def __init__(self, task: ForkedTask, offsets: dict[int, int], commit: bool, started: float,
                 inventory: set[int], watermark: int | None):
        self.task, self.offsets, self.commit, self.started = task, offsets, commit, started
        self.inventory, self.watermark = inventory, watermark  # partitions whose inventory it carries, as of


def _listener_class():
    from kafka import ConsumerRebalanceListener

    class Listener(ConsumerRebalanceListener):
        def __init__(self, processor: DetectProcessor):
            self.processor = processor

        def _parts(self, tps) -> set[int]:
            return {tp.partition for tp in tps if tp.topic == self.processor.topics.events}

        def on_partitions_revoked(self, revoked):
            self.processor.on_revoked(self._parts(revoked))

        def on_partitions_assigned(self, assigned):
            self.processor.on_assigned(self._parts(assigned))

        def on_partitions_lost(self, lost):
            self.processor.on_lost(self._parts(lost))

    return Listener


def _Listener(processor: DetectProcessor):
    return _listener_class()(processor)

