"""Snapshots built in a forked child (pipelines/stream/background.py)."""

from __future__ import annotations

import os
import time

import pytest

from pipelines.stream.background import ForkedTask, Record, forking_available, read_records, write_records
from pipelines.stream.state import decode_record, encode_record, partition_state
from pipelines.stream.topics import PartitionMap
from stream_support import attack_world, detector_config
from detector.detect.engine import Detector
from detector.events import to_table

pytestmark = pytest.mark.skipif(not forking_available(), reason="needs os.fork")


def test_records_cross_the_file_byte_for_byte(tmp_path):
    records = [Record("t.state", b"events-0", bytes(range(256)) * 100, 0, [("content-encoding", b"zlib+json")]),
               Record("t.inventory", b"token|k8s|prod|\xc3\xa9", b"{}"),
               Record("t.alerts", None, b"", None, [("h", b"\x00\xff")])]
    fd = os.open(tmp_path / "records", os.O_RDWR | os.O_CREAT)
    write_records(fd, records)
    os.close(fd)
    assert read_records((tmp_path / "records").read_bytes()) == records


def test_the_child_sees_the_state_of_the_fork_not_what_follows():
    """The parent changes the detector right after forking: the child's records are those of
    the moment of the fork, identical to the ones built in the loop at that moment."""
    events = attack_world()
    detector = Detector(detector_config())
    table = to_table(events)
    detector.process(table.slice(0, 1200))
    owner = PartitionMap(3)

    def build():
        return [Record("s", f"events-{p}".encode(),
                       encode_record(partition_state(detector, lambda key, p=p: owner(key) == p)), p)
                for p in range(3)]

    task = ForkedTask(build)
    detector.process(table.slice(1200, 600))  # the loop goes on while the child encodes
    records = task.result()
    assert [r.key for r in records] == [b"events-0", b"events-1", b"events-2"]
    fresh = Detector(detector_config())
    fresh.process(table.slice(0, 1200))

    def now(d):
        return [decode_record(encode_record(partition_state(d, lambda key, p=p: owner(key) == p))) for p in range(3)]

    got = [decode_record(r.value) for r in records]
    assert got == now(fresh)
    assert got != now(detector)


def test_a_failing_child_reports_why():
    def build():
        raise ValueError("state record events-1 is too big")

    task = ForkedTask(build)
    with pytest.raises(RuntimeError, match="too big"):
        task.result()


def test_a_cancelled_child_is_gone():
    task = ForkedTask(lambda: time.sleep(60) or [])
    assert not task.poll()
    task.cancel()
    with pytest.raises(ProcessLookupError):
        os.kill(task.pid, 0)  # reaped, not a zombie


class _Task:
    """A stand-in for ForkedTask: done at once, with records or an error."""

    def __init__(self, records=None, error: Exception | None = None):
        self.records, self.error, self.cancelled = records or [], error, False

    def poll(self) -> bool:
        return True

    def result(self):
        if self.error is not None:
            raise self.error
        return self.records

    def cancel(self) -> None:
        self.cancelled = True


def test_a_background_snapshots_inventory_counts_as_sent_only_once_it_is_out():
    """The inventory a background snapshot carries is marked emitted as of the fork (its
    watermark then), and only when its records were written; a cancelled or failed one leaves
    it to the next snapshot (the regression: those inventory updates were lost)."""
    from types import SimpleNamespace

    from prometheus_client import CollectorRegistry

    from pipelines.stream.config import KafkaConfig
    from pipelines.stream.detect import DetectProcessor, _PendingSnapshot
    from pipelines.stream.metrics import StreamMetrics

    processor = DetectProcessor.__new__(DetectProcessor)  # no Kafka: only the snapshot bookkeeping
    processor.config = KafkaConfig()
    processor.metrics = StreamMetrics(CollectorRegistry())
    processor.detector = SimpleNamespace(watermark=5_000)  # the loop went on after the fork at 4_000
    processor._inventory_as_of, processor._inventory_at, processor.owned = {}, 123.0, {0}
    written, checkpoints = [], []
    processor._write = lambda records, offsets, commit: written.append((records, offsets, commit))
    processor.checkpoint = lambda partitions, **kw: checkpoints.append((set(partitions), processor._inventory_at))

    cancelled = _Task()
    processor._pending = _PendingSnapshot(cancelled, {0: 10}, True, 0.0, {0}, 4_000)
    processor._cancel_pending()
    assert cancelled.cancelled and processor._pending is None
    assert processor._inventory_at == 0.0 and processor._inventory_as_of == {}  # the next one sends it

    processor._inventory_at = 123.0
    processor._pending = _PendingSnapshot(_Task(records=["r"]), {0: 10}, True, 0.0, {0}, 4_000)
    processor._complete_pending()
    assert written == [(["r"], {0: 10}, True)]
    assert processor._inventory_as_of == {0: 4_000}  # as of the fork, not of now (5_000)

    processor._pending = _PendingSnapshot(_Task(error=RuntimeError("child died")), {0: 20}, True, 0.0, {0}, 4_500)
    processor._complete_pending()
    assert processor._inventory_as_of == {0: 4_000}  # not marked: nothing went out
    assert checkpoints == [({0}, 0.0)]  # snapshotted in the loop at once, inventory included
