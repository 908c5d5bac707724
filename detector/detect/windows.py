"""Per-token 5-minute window features for the isolation forest, computed columnar.

The detector's per-event pass appends one row per event to a `WindowBuffer` (integer codes and
flags, no strings); when event time passes a window's end, `close()` aggregates the finished
rows with numpy (one sort, then reductions per group) and hands back a feature frame, keeping
the rows of open windows. A stream closes windows on every small batch, so the fixed cost of
a close matters: a pandas groupby with 19 aggregations cost about 40 ms per call whatever the
number of rows, the numpy form well under a millisecond for a small batch. Closed windows are
handed on as plain columns (`Windows`) for the same reason.
"""

from __future__ import annotations

import numpy as np

WINDOW_US = 5 * 60 * 1_000_000
# closed windows: column name → one value per (token, window), all of one length
Windows = dict[str, np.ndarray]

# Order matters: it is the forest's column order and is stored with every model.
FEATURES: list[str] = [
    "events_log",
    "distinct_ips",
    "distinct_uas",
    "distinct_actions",
    "distinct_namespaces",
    "novel_ips",
    "novel_uas",
    "novel_actions",
    "novel_namespaces",
    "error_ratio",
    "authz_failures_log",
    "rarity_mean",
    "rarity_max",
    "hour_surprise",
    "read_ratio",
    "sensitive_log",
    "rate_ratio_log",
]

# How each feature reads in an alert reason: (template, is it a log1p-scaled count)
FEATURE_TEXT: dict[str, tuple[str, bool]] = {
    "events_log": ("{v:.0f} requests", True),
    "distinct_ips": ("{v:.0f} source addresses", False),
    "distinct_uas": ("{v:.0f} client programs", False),
    "distinct_actions": ("{v:.0f} distinct actions", False),
    "distinct_namespaces": ("{v:.0f} namespaces", False),
    "novel_ips": ("{v:.0f} never-seen addresses", False),
    "novel_uas": ("{v:.0f} never-seen client programs", False),
    "novel_actions": ("{v:.0f} never-seen actions", False),
    "novel_namespaces": ("{v:.0f} never-touched namespaces", False),
    "error_ratio": ("{v:.0%} failed requests", False),
    "authz_failures_log": ("{v:.0f} authorization failures", True),
    "rarity_mean": ("actions rare in the population (mean rarity {v:.1f})", False),
    "rarity_max": ("an action done by few principals (rarity {v:.1f})", False),
    "hour_surprise": ("activity at an unusual hour (surprise {v:.1f})", False),
    "read_ratio": ("{v:.0%} read-only requests", False),
    "sensitive_log": ("{v:.0f} sensitive actions", True),
    "rate_ratio_log": ("{v:.1f}× its usual request rate", True),
}

# The per-event "susp" column holds flags, OR-ed over a window: the event was suspicious (it
# teaches nothing and its window trains no forest), and the event came while its token had an
# open incident (its window is one the forest scores for that incident). Both are decided per
# event, so which windows are scored does not depend on how many events one batch held.
SUSPICIOUS = 1
IN_INCIDENT = 2

# Columns the per-event loop fills (the rest are integer codes computed per batch with Arrow).
PER_EVENT_COLUMNS = ("nov_ip", "nov_ua", "nov_act", "nov_ns", "fail", "authz", "ro", "sens", "susp", "rarity", "hour")
BATCH_COLUMNS = ("tok", "prin", "pop", "win", "ip", "ua", "act", "ns")


class WindowBuffer:
    """Rows of events whose windows are still open, kept as numpy chunks (one per batch)."""

    def __init__(self) -> None:
        self.chunks: list[dict[str, np.ndarray]] = []

    def __len__(self) -> int:
        return sum(len(c["tok"]) for c in self.chunks)

    def add(self, codes: dict[str, np.ndarray], per_event: dict[str, list]) -> None:
        chunk = dict(codes)
        for name, values in per_event.items():
            chunk[name] = np.asarray(values, dtype=np.float64 if name in ("rarity", "hour") else np.int8)
        self.chunks.append(chunk)

    def close(self, before_window: int) -> Windows | None:
        """Aggregate rows of windows < `before_window`; keep the rest. None if nothing closed."""
        if not self.chunks:
            return None
        merged = {name: np.concatenate([c[name] for c in self.chunks]) for name in self.chunks[0]}
        done = merged["win"] < before_window
        if not done.any():
            self.chunks = [merged]
            return None
        kept = ~done
        self.chunks = [{name: values[kept] for name, values in merged.items()}] if kept.any() else []
        return aggregate({name: values[done] for name, values in merged.items()})

    def rows(self) -> dict[str, np.ndarray]:
        """All buffered rows (for snapshots)."""
        if not self.chunks:
            return {}
        return {name: np.concatenate([c[name] for c in self.chunks]) for name in self.chunks[0]}


_SUMS = (("novel_ips", "nov_ip"), ("novel_uas", "nov_ua"), ("novel_actions", "nov_act"),
         ("novel_namespaces", "nov_ns"), ("failures", "fail"), ("authz_failures", "authz"))


def aggregate(rows: dict[str, np.ndarray]) -> Windows:
    """Event rows → one row per (token, window) with FEATURES (rate_ratio_log left at 0), as
    columns of equal length (a DataFrame's construction and column access cost milliseconds per
    call, paid on every small stream batch).

    Groups come in the order of their first row (as a pandas groupby with sort=False); a code
    of -1 ("none": no IP, no user agent, no namespace) is not counted as a distinct value.
    """
    tok, win = rows["tok"].astype(np.int64), rows["win"].astype(np.int64)
    low = win.min()
    span = int(win.max() - low) + 1
    _, first, inverse = np.unique(tok * span + (win - low), return_index=True, return_inverse=True)
    appearance = np.argsort(first, kind="stable")  # group ids by first appearance
    rank = np.empty_like(appearance)
    rank[appearance] = np.arange(len(appearance))
    group = rank[inverse.reshape(-1)]
    heads = first[appearance]  # the first row of each group
    groups = len(heads)
    order = np.argsort(group, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(group[order]) != 0])
    events = np.bincount(group, minlength=groups).astype(np.int64)

    def total(name: str) -> np.ndarray:
        return np.add.reduceat(rows[name][order].astype(np.int64), starts)

    def peak(name: str) -> np.ndarray:
        return np.maximum.reduceat(rows[name][order], starts)

    def distinct(name: str, skip_none: bool) -> np.ndarray:
        values = rows[name].astype(np.int64)
        keep = values >= 0 if skip_none else np.ones(len(values), dtype=bool)
        width = int(values.max()) + 2 if len(values) else 1
        pairs = np.unique(group[keep] * width + (values[keep] + 1))
        return np.bincount(pairs // width, minlength=groups).astype(np.int64)

    out = {
        "tok": tok[heads], "win": win[heads],
        "prin": rows["prin"][heads], "pop": rows["pop"][heads],
        "events": events,
        "distinct_ips": distinct("ip", True), "distinct_uas": distinct("ua", True),
        "distinct_actions": distinct("act", False), "distinct_namespaces": distinct("ns", True),
    }
    for feature, column in _SUMS:
        out[feature] = total(column)
    rarity = rows["rarity"][order].astype(np.float64)
    out["rarity_mean"] = np.add.reduceat(rarity, starts) / events
    out["rarity_max"] = np.maximum.reduceat(rarity, starts)
    out["hour_surprise"] = peak("hour")
    out["reads"] = total("ro")
    out["sensitive"] = total("sens")
    flags = np.bitwise_or.reduceat(rows["susp"][order].astype(np.int64), starts)
    out["suspicious"] = (flags & SUSPICIOUS).astype(np.int8)
    out["in_incident"] = (flags & IN_INCIDENT).astype(bool)
    out["events_log"] = np.log1p(events)
    out["error_ratio"] = out["failures"] / events
    out["authz_failures_log"] = np.log1p(out["authz_failures"])
    out["read_ratio"] = out["reads"] / events
    out["sensitive_log"] = np.log1p(out["sensitive"])
    out["rate_ratio_log"] = np.zeros(groups)
    return out


def select(frame: Windows, rows: np.ndarray) -> Windows:
    """The windows at `rows` (a boolean mask or an index array), every column."""
    return {name: values[rows] for name, values in frame.items()}


def feature_matrix(frame: Windows) -> np.ndarray:
    """FEATURES as a float32 matrix, the forest's input."""
    return np.column_stack([frame[name] for name in FEATURES]).astype(np.float32, copy=False)
