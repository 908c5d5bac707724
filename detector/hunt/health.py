"""Model health: is the detector still seeing the world it learned?

- `alert_volume`, `event_volume`, `reason_counts`, `severity_counts` — what the detector produced over time;
- `replay_windows(events)` — replays events through a real `Detector` and records every closed
  5-minute token window with the exact features the isolation forests see (`windows.FEATURES`),
  whether it fell in the training window, and the forest's anomaly score;
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
from detector.detect.engine import Detector, DetectorStats
from detector.detect.forest import Forest, load_forests
from detector.detect.windows import FEATURES, WINDOW_US
from detector.evaluate import Evaluation, count_token_days, evaluate, load_labels
from detector.events import FIELDS, SCHEMA, from_output

from .sources import find_file, to_time


def events_table(events: pd.DataFrame | pa.Table) -> pa.Table:
    """A TokenEvents frame (as `sources` returns) → the detector's in-memory Arrow table, by time."""
    if isinstance(events, pa.Table):
        table = events if events.schema.field("ts").type == pa.int64() else from_output(events)
        return table.sort_by("ts")
    frame = events[list(FIELDS)]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    columns = []
    for f in SCHEMA:
        column = table.column(f.name)
        if f.name == "ts":
            column = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
        elif column.type != f.type:
            column = column.cast(f.type)
        columns.append(column)
    return pa.table(columns, schema=SCHEMA).sort_by("ts")


# --- what the detector produced ------------------------------------------------------------------

def _alert_rows(alerts: Iterable[dict[str, Any]]) -> pd.DataFrame:
    rows = [{"alert_id": a["alert"]["id"], "first_seen": to_time(a["first_seen"]), "score": a["score"],
             "severity": a["severity"], "source": a["token"]["source"]} for a in alerts]
    return pd.DataFrame(rows, columns=["alert_id", "first_seen", "score", "severity", "source"])


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

class _WindowRecorder(Detector):
    """A Detector that also keeps every closed window's feature row.

    The engine computes `rate_ratio_log` inside its scoring step (a running EWMA in the canonical
    window order); the recorder applies the same rule to a copy of the EWMA taken just before, so
    the rows equal what the forest sees. tests/test_hunt_health.py checks this against the
    fitted forest's `data_sha256` (a hash of its exact training rows)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.recorded: list[pd.DataFrame] = []

    def _score_windows(self, frame: pd.DataFrame, watermark: int) -> None:
        ewma = dict(self.window_ewma)
        super()._score_windows(frame, watermark)
        names = self.code_names
        frame = frame.assign(_tok=[names[int(c)] for c in frame["tok"].to_numpy()])
        frame = frame.sort_values(["win", "_tok"], kind="stable").reset_index(drop=True)
        events = frame["events"].to_numpy(dtype=np.float64)
        usual = np.zeros(len(frame))
        for i, (code, count, susp) in enumerate(zip(frame["prin"].to_numpy(), events, frame["suspicious"].to_numpy())):
            old = ewma.get(int(code))
            if old is not None:
                usual[i] = old
            if not susp:
                ewma[int(code)] = float(count if old is None else 0.9 * old + 0.1 * count)
        frame["rate_ratio_log"] = np.where(usual > 0, np.log1p(events / np.maximum(usual, 1.0)), 0.0)
        out = pd.DataFrame({
            "window": frame["win"].to_numpy(),
            "population": [names[int(c)] for c in frame["pop"].to_numpy()],
            "token": frame["_tok"].to_numpy(),
            "principal": [names[int(c)] for c in frame["prin"].to_numpy()],
            "suspicious": frame["suspicious"].to_numpy().astype(bool),
            "events": frame["events"].to_numpy(),
        })
        features = frame[FEATURES].to_numpy(dtype=np.float32)
        for j, name in enumerate(FEATURES):
            out[name] = features[:, j]
        self.recorded.append(out)


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
    table = events_table(events)
    detector = _WindowRecorder(config, forests=forests)
    alerts: dict[str, dict[str, Any]] = {}
    for offset in range(0, table.num_rows, batch_rows):
        for a in detector.process(table.slice(offset, batch_rows)):
            alerts[a["alert"]["id"]] = a
    for a in detector.flush():
        alerts[a["alert"]["id"]] = a
    columns = ["window", "population", "token", "principal", "suspicious", "events", *FEATURES]
    windows = pd.concat(detector.recorded, ignore_index=True) if detector.recorded else pd.DataFrame(columns=columns)
    learning_until = detector.learning_until()
    end_us = (windows["window"].to_numpy(dtype=np.int64) + 1) * WINDOW_US
    learning_us = detector.learning_us
    if learning_until is None:
        in_learning = np.zeros(len(windows), dtype=bool)
        settled = in_learning
    else:
        in_learning = end_us <= learning_until
        settled = end_us > learning_until - learning_us // 2  # the engine trains on the settled half
    windows.insert(0, "start", pd.to_datetime(windows["window"].to_numpy(dtype=np.int64) * WINDOW_US, unit="us", utc=True))
    windows["in_learning"] = in_learning
    windows["training"] = in_learning & settled & ~windows["suspicious"].to_numpy(dtype=bool)
    anomaly = np.full(len(windows), np.nan)
    for population, forest in detector.forests.items():
        mask = (windows["population"] == population).to_numpy()
        if mask.any():
            anomaly[mask] = forest.anomaly(windows.loc[mask, FEATURES].to_numpy(dtype=np.float32))
    windows["anomaly"] = anomaly
    until = to_time(int(learning_until)) if learning_until is not None else pd.NaT
    return WindowReplay(windows, dict(detector.forests), until, sorted(alerts.values(), key=lambda a: a["first_seen"]),
                        detector.stats, config)


def training_hash(rows: np.ndarray) -> str:
    """The `data_sha256` a forest records of its training rows."""
    return hashlib.sha256(np.asarray(rows, dtype=np.float32).tobytes()).hexdigest()


# --- drift ---------------------------------------------------------------------------------------

def psi(expected: np.ndarray, actual: np.ndarray, bins: int = 10, eps: float = 1e-4) -> float:
    """Population stability index of `actual` against `expected`, on the expected deciles
    (< 0.1 stable, 0.1–0.25 moderate shift, > 0.25 a shift worth a look)."""
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
