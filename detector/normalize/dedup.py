"""Collapse the per-stage copies of one K8s request into one event.

The API server logs a request once per stage (RequestReceived, ResponseStarted for long-running
calls like watch and exec, ResponseComplete, Panic) under one auditID. The final stage carries
the outcome, so it wins; an earlier stage is held back for `hold_us` of event time waiting for
its final copy, and released alone only if none comes (policies may omit stages, a watch may run
for an hour). The same logic runs on a replayed file and on a stream.

    >>> d = StageDeduper(hold_us=10)
    >>> e = lambda stage, ts: {"event_id": "a", "stage": stage, "ts": ts}
    >>> [x["stage"] for x in d.push([e("RequestReceived", 0), e("ResponseComplete", 1)])]
    ['ResponseComplete']
    >>> d.push([e("ResponseComplete", 2)]), d.duplicates
    ([], 2)

Events are dicts, or rows (tuples in `events.FIELDS` order) with `StageDeduper(rows=True)`.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from ..events import EVENT_ID, STAGE, TS

_RANK = {"RequestReceived": 1, "ResponseStarted": 2, "ResponseComplete": 3, "Panic": 3}
_FINAL = 3


class StageDeduper:
    def __init__(self, hold_us: int = 60_000_000, remember: int = 500_000, *, rows: bool = False):
        # where the three fields read here sit: keys of an event dict, or positions in a row
        self._id, self._stage, self._ts = (EVENT_ID, STAGE, TS) if rows else ("event_id", "stage", "ts")
        self.hold_us = hold_us
        self.remember = remember
        self._done: OrderedDict[str, None] = OrderedDict()  # ids already emitted (bounded LRU)
        self._pending: dict[str, Any] = {}  # id → best early-stage copy so far
        self.duplicates = 0

    def push(self, events: list[Any]) -> list[Any]:
        """Events ready to use, in input order, then held ones whose wait ran out."""
        out: list[Any] = []
        latest = None
        id_at, stage_at, ts_at = self._id, self._stage, self._ts
        done, pending, remember = self._done, self._pending, self.remember
        for event in events:
            stage = event[stage_at]
            if stage is None:
                out.append(event)
                continue
            key = event[id_at]
            ts = event[ts_at]
            if latest is None or ts > latest:
                latest = ts
            if key in done:
                self.duplicates += 1
                continue
            rank = _RANK.get(stage, _FINAL)
            held = pending.get(key)
            if rank >= _FINAL:
                if held is not None:
                    del pending[key]
                    self.duplicates += 1
                done[key] = None  # _mark_done, inlined: this runs for most events
                if len(done) > remember:
                    done.popitem(last=False)
                out.append(event)
            elif held is None:
                pending[key] = event
            else:
                self.duplicates += 1
                if rank > _RANK.get(held[stage_at], 0):
                    pending[key] = event
        if latest is not None and pending:
            out.extend(self._release(latest - self.hold_us))
        return out

    def flush(self) -> list[Any]:
        """Release everything held (end of a file replay, shutdown of a stream)."""
        return self._release(None)

    def _release(self, before_us: int | None) -> list[Any]:
        ready = [
            key for key, event in self._pending.items() if before_us is None or event[self._ts] < before_us
        ]
        released = []
        for key in ready:
            released.append(self._pending.pop(key))
            self._mark_done(key)
        return released

    def _mark_done(self, key: str) -> None:
        self._done[key] = None
        if len(self._done) > self.remember:
            self._done.popitem(last=False)

    @property
    def held(self) -> int:
        return len(self._pending)
