"""Model health: is the detector still seeing the world it learned?

- `alert_volume`, `event_volume`, `reason_counts`, `severity_counts` — what the detector produced over time;
- `replay_windows(events)` — replays events through a real `Detector` (`replay.py`) and records
  every closed 5-minute token window with the exact features the isolation forests see
  (`windows.FEATURES`), whether it fell in the training window, and the forest's anomaly score;
- `feature_drift(replay)` — per population and feature: the training window against later windows
  (population stability index, Kolmogorov–Smirnov distance, means, share of later windows above
  the training p99);
- `drift_over_time(replay)` — the same PSI per day, to see when a shift began;
- `anomaly_summary(replay)` — forest anomaly of later windows against the training quantiles
  (the p99.9 is the detector's own threshold);
- `compare_alerts(stored, replayed)` — do today's detector and the stored alerts still agree;
- `evaluation(alerts, labels, events)` — recall/precision against a labelled world (the demo's).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa

from detector.alert import SEVERITIES
from detector.config import DetectorConfig
from detector.detect.engine import DetectorStats
from detector.detect.forest import Forest, load_forests
from detector.detect.windows import FEATURES
from detector.evaluate import Evaluation, count_token_days, evaluate, load_labels

from .replay import events_table, replay
from .sources import find_file, to_time


# --- what the detector produced ------------------------------------------------------------------

def _alert_rows(alerts: Iterable[dict[str, Any]]) -> pd.DataFrame:
    rows = [{"alert_id": a["alert"]["id"], "first_seen": to_time(a["first_seen"]), "score": a["score"],
             "severity": a["severity"], "source": a["token"]["source"]} for a in alerts]
    frame = pd.DataFrame(rows, columns=["alert_id", "first_seen", "score", "severity", "source"])
    frame["first_seen"] = pd.to_datetime(frame["first_seen"], utc=True)
    return frame


def severity_counts(alerts: Iterable[dict[str, Any]]) -> pd.Series:
    rows = _alert_rows(alerts)
    return rows["severity"].value_counts().reindex(list(SEVERITIES), fill_value=0)


def alert_volume(alerts: Iterable[dict[str, Any]], freq: str = "D", start: Any = None, end: Any = None) -> pd.DataFrame:
    """Alerts per period (by first evidence) and severity; `start`/`end` pad the range with zeros."""
    rows = _alert_rows(alerts)
    periods = rows["first_seen"].dt.floor(freq)
    table = pd.crosstab(periods, rows["severity"]).reindex(columns=list(SEVERITIES), fill_value=0)
    lo = to_time(start).floor(freq) if start is not None else (periods.min() if len(rows) else None)
    hi = to_time(end).floor(freq) if end is not None else (periods.max() if len(rows) else None)
    if lo is not None and hi is not None:
        table = table.reindex(pd.date_range(lo, hi, freq=freq), fill_value=0)
    table.index.name = "period"
    table.columns.name = None
    return table


def event_volume(events: pd.DataFrame, freq: str = "D") -> pd.DataFrame:
    """Requests per period and source (the input side of alert volume)."""
    table = pd.crosstab(events["ts"].dt.floor(freq), events["source"])
    table.index.name = "period"
    table.columns.name = None
    return table


def reason_counts(alerts: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """How often each kind of evidence appears in alerts, its mean points and ATT&CK techniques."""
    rows = [{"kind": s["kind"], "points": s["points"], "technique": t}
            for a in alerts for s in (a.get("tokenhawk") or {}).get("signals") or []
            for t in (s.get("technique") or [None])]
    frame = pd.DataFrame(rows, columns=["kind", "points", "technique"])
    if frame.empty:
        return pd.DataFrame(columns=["kind", "alerts", "mean_points", "techniques"])
    per_kind = frame.drop_duplicates(subset=["kind", "technique", "points"])
    alerts_with = pd.Series(
        [s["kind"] for a in alerts for s in {s["kind"]: s for s in (a.get("tokenhawk") or {}).get("signals") or []}.values()]
    ).value_counts()
    out = per_kind.groupby("kind").agg(mean_points=("points", "mean"),
                                       techniques=("technique", lambda s: ", ".join(sorted(set(s.dropna())))))
    out["alerts"] = alerts_with.reindex(out.index).fillna(0).astype(int)
    out = out.reset_index().sort_values(["alerts", "mean_points"], ascending=False)
    return out[["kind", "alerts", "mean_points", "techniques"]].reset_index(drop=True)


def evaluation(alerts: list[dict[str, Any]], labels: str | Path | dict, events: pd.DataFrame | pa.Table) -> Evaluation:
    """Recall, precision and F1 against a labelled world (`labels.json` of the demo generator)."""
    labels = load_labels(labels) if not isinstance(labels, dict) else labels
    return evaluate(alerts, labels, count_token_days(events_table(events)))


def evaluation_tables(alerts: list[dict[str, Any]], labels: str | Path | None,
                      events: pd.DataFrame | pa.Table) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, per-scenario) tables of `evaluation`; two empty tables without labels."""
    try:
        path = find_file(labels) if labels else None
    except FileNotFoundError:
        path = None
    if path is None:
        return pd.DataFrame(columns=["metric", "value"]), pd.DataFrame()
    result = evaluation(alerts, path, events)
    summary = {k: v for k, v in result.as_dict().items() if k != "scenarios"}
    return pd.DataFrame(list(summary.items()), columns=["metric", "value"]), scenario_table(result)


def scenario_table(result: Evaluation) -> pd.DataFrame:
    rows = [{"scenario": s.id, "kind": s.kind, "malicious": s.malicious, "alerted": s.caught, "alerts": len(s.alerts),
             "minutes_to_detect": s.minutes_to_detect, "max_severity": s.max_severity} for s in result.scenarios]
    return pd.DataFrame(rows)


# --- replay with window capture ------------------------------------------------------------------

@dataclass
class WindowReplay:
    """Every closed window of a replay with its features, training flag and forest anomaly."""

    windows: pd.DataFrame
    forests: dict[str, Forest]
    learning_until: pd.Timestamp
    alerts: list[dict[str, Any]]
    stats: DetectorStats
    config: DetectorConfig = field(default_factory=DetectorConfig)

    @property
    def training(self) -> pd.DataFrame:
        return self.windows[self.windows["training"]]

    @property
    def later(self) -> pd.DataFrame:
        """Windows after the learning period (those the forest scores, when an incident is open)."""
        return self.windows[~self.windows["in_learning"]]

    def training_rows(self, population: str) -> np.ndarray:
        """The feature rows the population's forest was fitted on, in the engine's order."""
        rows = self.windows[self.windows["training"] & (self.windows["population"] == population)]
        return rows[FEATURES].to_numpy(dtype=np.float32)


def replay_windows(events: pd.DataFrame | pa.Table, config: DetectorConfig | None = None,
                   forests: dict[str, Forest] | None = None, batch_rows: int = 20_000, *,
                   learning_period: str | None = None, models: str | Path | None = None) -> WindowReplay:
    """Replay events through a Detector (as `tokenhawk detect` does) and record every window.

    `models` is a directory of forests from `tokenhawk train` (else each population's forest is
    fitted from the learning period, as `detect` does without `--models`); `learning_period`
    overrides the configuration's."""
    config = config or DetectorConfig()
    if learning_period:
        config = config.model_copy(update={"learning_period": learning_period})
    if models and forests is None:
        forests = load_forests(find_file(models), FEATURES)
    run = replay(events, config, forests=forests, record_windows=True, batch_rows=batch_rows)
    return WindowReplay(run.windows, run.forests, run.learning_until, run.alerts, run.detector.stats, config)


def training_hash(rows: np.ndarray) -> str:
    """The `data_sha256` a forest records of its training rows."""
    return hashlib.sha256(np.asarray(rows, dtype=np.float32).tobytes()).hexdigest()


# --- drift ---------------------------------------------------------------------------------------

def psi(expected: np.ndarray, actual: np.ndarray, bins: int = 10, eps: float = 1e-4) -> float:
    """Population stability index of `actual` against `expected`, on the expected deciles
    (< 0.1 stable, 0.1–0.25 moderate shift, > 0.25 a shift worth a look).

    >>> x = np.arange(1000.0)
    >>> round(psi(x, x), 6), psi(x, x + 500) > 0.25
    (0.0, True)
    """
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if len(expected) == 0 or len(actual) == 0:
        return float("nan")
    edges = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)[1:-1]))
    e = np.bincount(np.searchsorted(edges, expected, side="right"), minlength=len(edges) + 1) / len(expected)
    a = np.bincount(np.searchsorted(edges, actual, side="right"), minlength=len(edges) + 1) / len(actual)
    e, a = np.maximum(e, eps), np.maximum(a, eps)
    return float(np.sum((a - e) * np.log(a / e)))


def ks_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Largest gap between the two empirical distribution functions (two-sample KS statistic)."""
    x, y = np.sort(np.asarray(x, dtype=np.float64)), np.sort(np.asarray(y, dtype=np.float64))
    if len(x) == 0 or len(y) == 0:
        return float("nan")
    grid = np.concatenate([x, y])
    return float(np.max(np.abs(np.searchsorted(x, grid, side="right") / len(x)
                               - np.searchsorted(y, grid, side="right") / len(y))))


def feature_drift(replay: WindowReplay, features: Iterable[str] = FEATURES) -> pd.DataFrame:
    """Per population and feature: training window versus later windows, largest PSI first."""
    rows = []
    for population, train in replay.training.groupby("population"):
        later = replay.later[replay.later["population"] == population]
        if later.empty:
            continue
        for name in features:
            t, l_ = train[name].to_numpy(), later[name].to_numpy()
            p99 = float(np.quantile(t, 0.99))
            rows.append({"population": population, "feature": name, "psi": psi(t, l_), "ks": ks_distance(t, l_),
                         "train_mean": float(t.mean()), "later_mean": float(l_.mean()), "train_p99": p99,
                         "later_above_train_p99": float((l_ > p99).mean()),
                         "train_windows": len(t), "later_windows": len(l_)})
    out = pd.DataFrame(rows, columns=["population", "feature", "psi", "ks", "train_mean", "later_mean", "train_p99",
                                      "later_above_train_p99", "train_windows", "later_windows"])
    out["shift"] = pd.cut(out["psi"], [-np.inf, 0.1, 0.25, np.inf], labels=["stable", "moderate", "large"])
    return out.sort_values("psi", ascending=False).reset_index(drop=True)


def drift_over_time(replay: WindowReplay, population: str | None = None, features: Iterable[str] = FEATURES,
                    freq: str = "D") -> pd.DataFrame:
    """PSI of each period's windows against the training windows (rows: periods; columns: features).
    Without `population`, the population with the most windows."""
    windows = replay.windows
    if population is None:
        population = windows["population"].value_counts().index[0]
    train = replay.training[replay.training["population"] == population]
    mine = windows[windows["population"] == population]
    out = {}
    for period, group in mine.groupby(mine["start"].dt.floor(freq)):
        out[period] = {name: psi(train[name].to_numpy(), group[name].to_numpy()) for name in features}
    table = pd.DataFrame.from_dict(out, orient="index")
    table.index.name = "period"
    return table


def anomaly_summary(replay: WindowReplay) -> pd.DataFrame:
    """Per population: the forest's training quantiles and how later windows compare."""
    rows = []
    for population, forest in sorted(replay.forests.items()):
        later = replay.later[replay.later["population"] == population]["anomaly"].dropna()
        train = replay.training[replay.training["population"] == population]["anomaly"].dropna()
        q = forest.train_anomaly
        rows.append({"population": population, "trained_on": int(forest.meta.get("rows", len(train))),
                     "train_p50": q.get("p50"), "train_p99": q.get("p99"), "threshold_p999": q.get("p999"),
                     "later_windows": len(later), "later_p50": float(later.median()) if len(later) else np.nan,
                     "later_above_p99": float((later > q.get("p99", np.inf)).mean()) if len(later) else np.nan,
                     "later_above_p999": float((later > q.get("p999", np.inf)).mean()) if len(later) else np.nan})
    return pd.DataFrame(rows)


def compare_alerts(stored: Iterable[dict[str, Any]], replayed: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Stored alerts against a fresh replay's, by alert id: both, only stored, only replayed,
    with the score change (a changed detector or configuration shows here first)."""
    a = {x["alert"]["id"]: x for x in stored}
    b = {x["alert"]["id"]: x for x in replayed}
    rows = []
    for aid in sorted(set(a) | set(b)):
        x, y = a.get(aid), b.get(aid)
        ref = x or y
        rows.append({"alert_id": aid, "principal": ref["token"]["principal"], "first_seen": ref["first_seen"],
                     "status": "both" if x and y else ("only stored" if x else "only replayed"),
                     "stored_score": x["score"] if x else np.nan, "replayed_score": y["score"] if y else np.nan})
    out = pd.DataFrame(rows, columns=["alert_id", "principal", "first_seen", "status", "stored_score", "replayed_score"])
    out["score_change"] = out["replayed_score"] - out["stored_score"]
    return out.sort_values(["status", "first_seen"]).reset_index(drop=True)
