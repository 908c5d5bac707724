"""Detector state on the compacted `tokenhawk.state` topic: one record per events partition.

A record holds everything needed to continue a partition exactly where it was left:
`detector.detect.snapshot` of the partition's principals (baselines, tokens, open incidents,
rows of still-open 5-minute windows) plus the fleet-wide facts, the isolation-forest training
rows gathered so far during learning (not in the library snapshot; the forest differs if they
are lost), and the offsets the state corresponds to: the partition's next event offset and the
position in every facts partition. Restoring a record and reading on from those offsets
reproduces what an uninterrupted run would have done.

The offsets live inside the record, so a crash between writing state and committing offsets
can never pair state with the wrong position; group commits only report progress (lag).

Record: key `events-<partition>`, value zlib(JSON), written to the state partition with the
same number (when the state topic has as many partitions), so the latest value of a key is
near the end of one partition and restore reads a few records, not the topic.
"""

from __future__ import annotations

import base64
import logging
import time
import zlib
from collections import defaultdict
from typing import Any, Callable, Iterable

import numpy as np
import orjson

from detector.detect import snapshot as detector_snapshot
from detector.detect.engine import Detector
from detector.inventory import snapshot as inventory_snapshot

from .background import Record

log = logging.getLogger(__name__)

FORMAT = 1


def state_key(partition: int) -> bytes:
    return f"events-{partition}".encode()


# --- what a partition's record holds ----------------------------------------------------------


def partition_state(detector: Detector, keep: Callable[[str], bool], inventory=None) -> dict[str, Any]:
    """The detector state of the principals `keep` selects, plus the shared facts except the
    online-trained forests (see `forests_state`: they are large, fixed once trained, and would
    otherwise be copied into every partition's record)."""
    given = detector._given_forests
    detector._given_forests = given | set(detector.forests)  # the library snapshot skips these
    try:
        data = detector_snapshot.snapshot(detector, keep)
    finally:
        detector._given_forests = given
    shared = data["shared"]
    # window_ewma is per principal although the library files it under shared: a partition
    # carries only its own, so restoring it elsewhere cannot overwrite a live principal's value
    shared["window_ewma"] = {k: v for k, v in shared["window_ewma"].items() if keep(k)}
    data["stream"] = {"training": _training(detector)}
    if inventory is not None:  # the token inventory travels with the detector state it observes
        data["inventory"] = inventory_snapshot.state(inventory, detector, keep)
    return data


def forests_state(detector: Detector) -> dict[str, Any]:
    """The online-trained isolation forests, as a state record of their own."""
    data = detector_snapshot.snapshot(detector, lambda key: False)
    return {"format": FORMAT, "forests": data["shared"]["forests"]}


def restore_forests(detector: Detector, data: dict[str, Any]) -> None:
    from detector.detect.snapshot import _forest_from_dict

    for population, packed in data.get("forests", {}).items():
        if population not in detector.forests:
            detector.forests[population] = _forest_from_dict(packed)
            detector.training.pop(population, None)


def restore_partitions(detector: Detector, states: Iterable[dict[str, Any]], inventory=None) -> None:
    """Merge partition states into `detector` (several at once), and its inventory if given."""
    states = list(states)
    for data in states:
        detector_snapshot.restore(detector, data)
        if inventory is not None and data.get("inventory"):
            inventory_snapshot.restore_state(inventory, data["inventory"])
    for data in states:
        for population, packed in (data.get("stream") or {}).get("training", {}).items():
            if population in detector.forests:
                continue
            rows_now = sum(len(a) for a in detector.training.get(population, []))
            array = _unpack_array(packed)
            if len(array) > rows_now:
                detector.training[population] = [array]


def _training(detector: Detector) -> dict[str, Any]:
    return {pop: _pack_array(np.concatenate(arrays)) for pop, arrays in detector.training.items() if arrays}


def _pack_array(array: np.ndarray) -> dict[str, Any]:
    array = np.ascontiguousarray(array, dtype="<f4")
    return {"shape": list(array.shape), "f4": base64.b64encode(array.tobytes()).decode()}


def _unpack_array(packed: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(packed["f4"]), dtype="<f4").reshape(packed["shape"]).copy()


# --- the state topic ----------------------------------------------------------------------------


def encode_record(data: dict[str, Any]) -> bytes:
    return zlib.compress(detector_snapshot.dumps(data), 1)


def decode_record(value: bytes) -> dict[str, Any]:
    return orjson.loads(zlib.decompress(value))


FORESTS_KEY = b"forests"


class StateStore:
    """Writes partition snapshots through a producer and reads the latest ones back."""

    def __init__(self, config, topic: str, producer, reader_factory: Callable[[], Any], instance: str):
        self.config = config
        self.topic = topic
        self.producer = producer
        self._reader_factory = reader_factory
        self._reader = None
        self.instance = instance
        self.forests_written: set[str] = set()
        self.last_bytes: dict[int, int] = {}

    def _state_partitions(self) -> int:
        return len(self.producer.partitions_for(self.topic))

    def record(self, key: bytes, data: dict[str, Any], partition: int) -> Record:
        value = encode_record(data)
        if len(value) > self.config.state_max_bytes:
            raise ValueError(f"state record {key.decode()} is {len(value)} bytes, over kafka.state_max_bytes="
                             f"{self.config.state_max_bytes}: raise it, or spread principals over more partitions")
        return Record(self.topic, key, value, partition, [("content-encoding", b"zlib+json")])

    def records(self, detector: Detector, partitions: dict[int, int], facts: dict[int, int],
                owner_of: Callable[[str], int], events_topic: str, inventory=None,
                n_state: int | None = None) -> list[Record]:
        """The records of the owned partitions (and of newly trained forests), built without
        any I/O: `save` sends them at once, a background snapshot builds them in a child."""
        n_state = n_state or self._state_partitions()
        out = []
        trained = set(detector.forests) - detector._given_forests
        if trained - self.forests_written:
            out.append(self.record(FORESTS_KEY, forests_state(detector), 0))
        written_at = time.time()
        for partition, offset in sorted(partitions.items()):
            data = partition_state(detector, lambda key, p=partition: owner_of(key) == p, inventory)
            data["stream_offsets"] = {
                "events_topic": events_topic, "partition": partition, "offset": offset,
                "facts": {str(q): pos for q, pos in facts.items()},
                "written_at": written_at, "instance": self.instance,
            }
            out.append(self.record(state_key(partition), data, partition % n_state))
        return out

    def send(self, records: Iterable[Record]) -> int:
        """Send records (the caller flushes); returns the bytes of the state records sent."""
        total = 0
        for r in records:
            self.producer.send(r.topic, key=r.key, value=r.value, partition=r.partition, headers=r.headers)
            if r.topic != self.topic:
                continue
            total += len(r.value)
            if r.key == FORESTS_KEY:
                self.forests_written |= set(decode_record(r.value)["forests"])
            elif r.key.startswith(b"events-"):
                self.last_bytes[int(r.key[len(b"events-"):])] = len(r.value)
        return total

    def save(self, detector: Detector, partitions: dict[int, int], facts: dict[int, int],
             owner_of: Callable[[str], int], events_topic: str, inventory=None) -> int:
        """Send the records of the owned partitions (the caller flushes); returns bytes sent."""
        return self.send(self.records(detector, partitions, facts, owner_of, events_topic, inventory))

    def load(self, partitions: Iterable[int], events_topic: str, timeout_s: float = 60.0) -> tuple[dict[int, dict[str, Any]], dict[str, Any] | None]:
        """The latest record of each partition that has one (written for `events_topic`), and
        the forests record if there is one."""
        from kafka import TopicPartition

        wanted: dict[bytes, Any] = {state_key(p): p for p in partitions}
        if not wanted:
            return {}, None
        wanted[FORESTS_KEY] = "forests"
        if self._reader is None:
            self._reader = self._reader_factory()
        reader = self._reader
        n_state = len(reader.partitions_for_topic(self.topic) or ()) or self._state_partitions()
        by_state_partition: dict[int, set[bytes]] = defaultdict(set)
        for key, p in wanted.items():
            by_state_partition[0 if key == FORESTS_KEY else p % n_state].add(key)
        found: dict[Any, dict[str, Any]] = {}
        for sp, keys in sorted(by_state_partition.items()):
            tp = TopicPartition(self.topic, sp)
            reader.assign([tp])
            begin = reader.beginning_offsets([tp])[tp]
            end = reader.end_offsets([tp])[tp]
            latest: dict[bytes, bytes] = {}
            window, stop = 2, end
            while stop > begin and len(latest) < len(keys):
                start = max(begin, stop - window)
                for key, value in self._read_range(reader, tp, start, stop, timeout_s):
                    if key in keys and key not in latest:
                        latest[key] = value
                stop, window = start, window * 4
            for key, value in latest.items():
                if value is not None:
                    found[wanted[key]] = decode_record(value)
        forests = found.pop("forests", None)
        states = {}
        for p, data in found.items():
            offsets = data.get("stream_offsets") or {}
            if data.get("format") != detector_snapshot.FORMAT or offsets.get("events_topic") != events_topic:
                log.warning("ignoring state record events-%s: written for topic %s, format %s", p,
                            offsets.get("events_topic"), data.get("format"))
                continue
            states[p] = data
        if forests is not None:
            self.forests_written |= set(forests.get("forests", {}))
        return states, forests

    @staticmethod
    def _read_range(reader, tp, start: int, stop: int, timeout_s: float) -> list[tuple[bytes, bytes]]:
        """Records of [start, stop), newest first."""
        reader.seek(tp, start)
        out = []
        deadline = time.monotonic() + timeout_s
        quiet_since = time.monotonic()
        while reader.position(tp) < stop:
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(f"reading state {tp.topic}[{tp.partition}] {start}..{stop} took over {timeout_s:.0f}s")
            records = reader.poll(timeout_ms=500).get(tp, [])
            if not records:
                if now - quiet_since > 3.0:  # the rest of the range was compacted away
                    break
                continue
            quiet_since = now
            for record in records:
                if record.offset < stop:
                    out.append((record.key, record.value))
        out.reverse()
        return out

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
