"""Event-time merge of several partitions, so the detector sees events in time order.

A consumer polls whatever partition the fetcher had ready: a batch may hold hours of event
time from one partition and nothing yet from another (a backlog, a restart). The file mode
feeds the detector in time order across all sources, and its windows and watermark assume it.
So records wait here until every partition that still has unread records has shown an event
at least as late (the horizon), and are released in offset order per partition:

    >>> a = TimeAligner(max_wait_s=5)
    >>> a.add("p0", [(0, 10, "a"), (1, 30, "b")]); a.add("p1", [(0, 20, "c")])
    >>> [item for _, _, item, _ in a.release({"p0": True, "p1": False})]   # p1 may hold more
    ['a']
    >>> [item for _, _, item, _ in a.release({"p0": True, "p1": True})]
    ['c', 'b']

Offsets are released as a per-partition prefix, so "everything before offset N was processed"
holds and N can be committed. A record holding several events (an array, see codec.py) is
released whole: where the horizon would cut one in two, the bound moves back to that record's
first event, for every partition (see `_cuts`). A partition that is caught up does not hold
others back (live traffic cannot wait for a quiet source); one that delivers nothing for
`max_wait_s` while others do stops holding too. A partition far ahead (`max_buffered` rows waiting) should be paused by the caller.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Hashable, Iterable

Entry = tuple[int, int, Any, Hashable]  # (offset, ts, item, partition)


class TimeAligner:
    def __init__(self, max_wait_s: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.max_wait_s = max_wait_s
        self.clock = clock
        self.buffers: dict[Hashable, list[tuple[int, int, Any]]] = {}
        self.high: dict[Hashable, int] = {}  # latest event time fetched per partition
        self.next_offset: dict[Hashable, int] = {}  # first offset not yet released
        self.fetched: dict[Hashable, int] = {}  # offset after the last one fetched
        self.since: dict[Hashable, float] = {}  # when the partition last delivered (or was added)
        self.last_any = clock()  # when any partition last delivered
        self.horizon: int | None = None

    def track(self, partition: Hashable, position: int | None = None) -> None:
        """Start holding for a partition (an assignment), reading from `position`."""
        self.buffers.setdefault(partition, [])
        self.since[partition] = self.clock()
        if position is not None:
            self.next_offset[partition] = position
            self.fetched[partition] = position

    def forget(self, partitions: Iterable[Hashable]) -> None:
        """Drop partitions (revoked): their unreleased records are re-read by the next owner."""
        for p in partitions:
            for table in (self.buffers, self.high, self.next_offset, self.fetched, self.since):
                table.pop(p, None)

    def add(self, partition: Hashable, entries: list[tuple[int, int, Any]]) -> None:
        """Fetched records of one partition in offset order: (offset, event time, item)."""
        if not entries:
            return
        buffer = self.buffers.setdefault(partition, [])
        if not buffer and partition not in self.next_offset:
            self.next_offset[partition] = entries[0][0]
        buffer.extend(entries)
        top = max(ts for _, ts, _ in entries)
        if top > self.high.get(partition, top - 1):
            self.high[partition] = top
        self.fetched[partition] = entries[-1][0] + 1
        now = self.clock()
        if now - self.last_any > self.max_wait_s:
            # nobody delivered for a while (the broker was away): nobody is behind the others
            for other in self.since:
                self.since[other] = now
        self.since[partition] = self.last_any = now

    def buffered(self, partition: Hashable) -> int:
        return len(self.buffers.get(partition, ()))

    def release(self, caught_up: dict[Hashable, bool], paused: Iterable[Hashable] = ()) -> list[Entry]:
        """Entries that are safe to process now, in time order (ties: partition, then offset)."""
        paused = set(paused)
        horizon = None
        for p in self.buffers:
            # silent while others delivered: stop waiting for it. Wall time alone says nothing
            # (a long batch or a broker outage keeps everyone quiet), so it is not counted.
            silent = self.last_any - self.since.get(p, self.last_any) > self.max_wait_s
            if caught_up.get(p, False) or p in paused or silent:
                continue
            high = self.high.get(p)
            if high is None:  # unread records whose time we do not know yet
                return []
            horizon = high if horizon is None else min(horizon, high)
        cuts = self._cuts(horizon)
        out: list[Entry] = []
        for p, buffer in self.buffers.items():
            n = cuts.get(p, 0)
            if n == 0:
                continue
            out.extend((offset, ts, item, p) for offset, ts, item in buffer[:n])
            del buffer[:n]
            self.next_offset[p] = buffer[0][0] if buffer else self.fetched[p]
        if horizon is not None:
            self.horizon = horizon
        out.sort(key=lambda entry: entry[1])  # stable: per partition, offset order is kept
        return out

    def _cuts(self, bound: int | None) -> dict[Hashable, int]:
        """Per partition, how many buffered entries come before `bound` (all, without one),
        never cutting through a record. Where `bound` falls inside records, it moves back to the
        earliest first event of those records and every partition is cut again there. The
        publisher cuts all partitions' arrays at one moment, so this settles within one such cut
        (at most one step per partition) and is exact. Arrays of successive publish calls that
        overlap in time would make it step back record by record to the start of the buffer:
        after as many steps as partitions, records that still straddle the bound are held whole
        instead, their early events released later as out-of-order ones."""
        cuts, straddling = self._cut_at(bound)
        for _ in range(len(self.buffers)):
            if not straddling:
                return cuts
            cuts, straddling = self._cut_at(min(first_ts for _, first_ts in straddling.values()))
        for p, (start, _) in straddling.items():
            cuts[p] = start
        return cuts

    def _cut_at(self, bound: int | None) -> tuple[dict[Hashable, int], dict[Hashable, tuple[int, int]]]:
        """(entries before `bound` per partition, {partition: (start, first event time) of the
        record the cut falls in})."""
        cuts, straddling = {}, {}
        for p, buffer in self.buffers.items():
            n = len(buffer)
            if bound is not None:
                n = 0
                for _, ts, _ in buffer:
                    if ts >= bound:
                        break
                    n += 1
            if 0 < n < len(buffer) and buffer[n][0] == buffer[n - 1][0]:
                offset = buffer[n][0]
                start = n
                while start > 0 and buffer[start - 1][0] == offset:
                    start -= 1
                straddling[p] = (start, buffer[start][1])
            cuts[p] = n
        return cuts, straddling

    def positions(self) -> dict[Hashable, int]:
        """First unreleased offset per partition (what may be committed)."""
        return dict(self.next_offset)
