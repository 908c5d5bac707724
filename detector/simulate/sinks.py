"""Where generated records go: one buffer per log family, flushed to files as days complete.

Records arrive as (time, serialized JSON) pairs in any order within a day; a flush writes, in
time order, every record older than the flush point into the file its family's real delivery
layout puts it in, and keeps the rest for later. Files are written once, so the output of a
seed is byte-identical run after run (gzip headers carry no timestamp).

The sinks also count what a normalizer should see: records, requests (stage copies collapsed,
non-audit entries excluded) and the (token, day) pairs that carried traffic.
"""

from __future__ import annotations

import bisect
import gzip
import hashlib
from operator import itemgetter
from collections import Counter, defaultdict
from pathlib import Path

from .timefmt import DAY, HOUR, US, to_dt


class Sink:
    source = ""

    def __init__(self, root: Path, world_start: int, seed: int, world_end: int = 1 << 62):
        self.root = root
        self.world_end = world_end
        self.world_start = world_start
        self.seed = seed
        self.buffer: list[tuple[int, int, object, bytes]] = []
        self.seq = 0
        self.flushed_until = world_start
        self.paths: list[Path] = []

    def key(self, ts: int, route: object) -> object:  # which file a record belongs to
        raise NotImplementedError

    def add(self, ts: int, data: bytes, route: object = None) -> None:
        if ts < self.flushed_until:
            raise AssertionError(f"{self.source}: record at {ts} after its file was written")
        if ts >= self.world_end:
            return  # after the capture window
        self.seq += 1
        self.buffer.append((ts, self.seq, route, data))

    def flush(self, until: int | None = None) -> None:
        self.buffer.sort()  # (time, sequence) is unique: ties never reach the payload
        if until is None:
            ready, self.buffer = self.buffer, []
        else:
            cut = bisect.bisect_left(self.buffer, until, key=itemgetter(0))
            ready, self.buffer = self.buffer[:cut], self.buffer[cut:]
            self.flushed_until = until
        groups = self.group(ready)
        for key in sorted(groups, key=str):
            path = self.write(key, groups[key])
            self.paths.append(path)

    def group(self, ready: list[tuple[int, int, object, bytes]]) -> dict[object, list[bytes]]:
        groups: dict[object, list[bytes]] = defaultdict(list)
        key = self.key
        for ts, _, route, data in ready:
            groups[key(ts, route)].append(data)
        return groups

    def write(self, key: object, items: list[bytes]) -> Path:
        raise NotImplementedError

    def _file_hash(self, *parts: object) -> str:
        digest = hashlib.blake2b(repr((self.seed,) + parts).encode(), digest_size=16).digest()
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return "".join(alphabet[b % len(alphabet)] for b in digest)[:16]


class K8sSink(Sink):
    """JSON lines, one file per day: k8s/audit-2026-11-02.log"""

    source = "k8s"

    def key(self, ts: int, route: object) -> object:
        return ts - ts % DAY

    def group(self, ready: list[tuple[int, int, object, bytes]]) -> dict[object, list[bytes]]:
        groups: dict[object, list[bytes]] = {}
        i = 0
        while i < len(ready):  # sorted by time: cut at day boundaries
            day = self.key(ready[i][0], None)
            j = bisect.bisect_left(ready, day + DAY, lo=i, key=itemgetter(0))
            groups[day] = [r[3] for r in ready[i:j]]
            i = j
        return groups

    def write(self, key: object, items: list[bytes]) -> Path:
        path = self.root / "k8s" / f"audit-{to_dt(key):%Y-%m-%d}.log"  # type: ignore[arg-type]
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as fh:
            fh.write(b"\n".join(items) + b"\n")
        return path


class CloudTrailSink(Sink):
    """S3 objects as CloudTrail delivers them: {"Records": [...]}, gzipped, per account and hour."""

    source = "aws"

    def key(self, ts: int, route: object) -> object:
        account, region = route  # type: ignore[misc]
        return (account, region, ts - ts % HOUR)

    def write(self, key: object, items: list[bytes]) -> Path:
        account, region, hour = key  # type: ignore[misc]
        dt = to_dt(hour)
        name = f"{account}_CloudTrail_{region}_{dt:%Y%m%dT%H%M}Z_{self._file_hash(account, region, hour)}.json.gz"
        path = self.root / "aws" / account / f"{dt:%Y}" / f"{dt:%m}" / f"{dt:%d}" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        body = b'{"Records":[' + b",".join(items) + b"]}"
        path.write_bytes(gzip.compress(body, compresslevel=1, mtime=0))
        return path


class GcpSink(Sink):
    """A log sink export: LogEntry JSON lines per project and day (audit and other logs mixed)."""

    source = "gcp"

    def key(self, ts: int, route: object) -> object:
        return (route, ts - ts % DAY)

    def write(self, key: object, items: list[bytes]) -> Path:
        project, day = key  # type: ignore[misc]
        path = self.root / "gcp" / str(project) / f"{to_dt(day):%Y-%m-%d}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as fh:
            fh.write(b"\n".join(items) + b"\n")
        return path


class AzureSink(Sink):
    """Diagnostic-settings batches {"records": [...]} per category container and hour."""

    source = "azure"

    def key(self, ts: int, route: object) -> object:
        return (route, ts - ts % HOUR)

    def write(self, key: object, items: list[bytes]) -> Path:
        (container, scope), hour = key  # type: ignore[misc]
        dt = to_dt(hour)
        path = (self.root / "azure" / container / scope
                / f"y={dt:%Y}" / f"m={dt:%m}" / f"d={dt:%d}" / f"h={dt:%H}" / "m=00" / "PT1H.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b'{"records":[' + b",".join(items) + b"]}")
        return path


class Output:
    """All sinks plus the counters the summary and the labels report."""

    def __init__(self, root: Path, world_start: int, seed: int, world_end: int):
        self.k8s = K8sSink(root, world_start, seed, world_end)
        self.aws = CloudTrailSink(root, world_start, seed, world_end)
        self.gcp = GcpSink(root, world_start, seed, world_end)
        self.azure = AzureSink(root, world_start, seed, world_end)
        self.world_start = world_start
        self.world_end = world_end
        self.records: Counter[str] = Counter()
        self.events: Counter[str] = Counter()
        self.token_days: dict[str, set[tuple[str, int]]] = defaultdict(set)

    @property
    def sinks(self) -> list[Sink]:
        return [self.k8s, self.aws, self.gcp, self.azure]

    def note(self, source: str, ts: int, token_id: str | None, *, final: bool = True) -> None:
        """Count one record; `final` records are the requests a normalizer keeps."""
        if ts >= self.world_end:
            return
        self.records[source] += 1
        if final:
            self.events[source] += 1
            if token_id:
                self.token_days[source].add((token_id, (ts - self.world_start) // 86_400_000_000))

    def flush(self, until: int | None = None) -> None:
        for sink in self.sinks:
            sink.flush(until)

    def tokens_total(self) -> int:
        return len({(src, tok) for src, pairs in self.token_days.items() for tok, _ in pairs})

    def token_day_count(self) -> int:
        return sum(len(pairs) for pairs in self.token_days.values())


__all__ = ["Output", "Sink", "K8sSink", "CloudTrailSink", "GcpSink", "AzureSink", "US"]
