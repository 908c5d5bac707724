"""Per-token 5-minute window features for the isolation forest, computed columnar.

The detector's per-event pass appends one row per event to a `WindowBuffer` (integer codes and
flags, no strings); when event time passes a window's end, `close()` aggregates the finished
rows with one pandas groupby and hands back a feature frame, keeping the rows of open windows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WINDOW_US = 5 * 60 * 1_000_000

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

    def close(self, before_window: int) -> pd.DataFrame | None:
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
        return aggregate(pd.DataFrame({name: values[done] for name, values in merged.items()}))

    def rows(self) -> dict[str, np.ndarray]:
        """All buffered rows (for snapshots)."""
        if not self.chunks:
            return {}
        return {name: np.concatenate([c[name] for c in self.chunks]) for name in self.chunks[0]}


def aggregate(rows: pd.DataFrame) -> pd.DataFrame:
    """Event rows → one row per (token, window) with FEATURES (rate_ratio_log left at 0)."""
    # -1 means "none" (no IP, no namespace); as NaN it drops out of nunique without a lambda
    rows = rows.assign(**{c: rows[c].where(rows[c] >= 0) for c in ("ip", "ua", "ns")})
    grouped = rows.groupby(["tok", "win"], sort=False)
    out = grouped.agg(
        prin=("prin", "first"),
        pop=("pop", "first"),
        events=("tok", "size"),
        distinct_ips=("ip", "nunique"),
        distinct_uas=("ua", "nunique"),
        distinct_actions=("act", "nunique"),
        distinct_namespaces=("ns", "nunique"),
        novel_ips=("nov_ip", "sum"),
        novel_uas=("nov_ua", "sum"),
        novel_actions=("nov_act", "sum"),
        novel_namespaces=("nov_ns", "sum"),
        failures=("fail", "sum"),
        authz_failures=("authz", "sum"),
        rarity_mean=("rarity", "mean"),
        rarity_max=("rarity", "max"),
        hour_surprise=("hour", "max"),
        reads=("ro", "sum"),
        sensitive=("sens", "sum"),
        suspicious=("susp", "max"),
    ).reset_index()
    out["events_log"] = np.log1p(out["events"])
    out["error_ratio"] = out["failures"] / out["events"]
    out["authz_failures_log"] = np.log1p(out["authz_failures"])
    out["read_ratio"] = out["reads"] / out["events"]
    out["sensitive_log"] = np.log1p(out["sensitive"])
    out["rate_ratio_log"] = 0.0
    return out
