"""Replay TokenEvents through a real `Detector`, as `tokenhawk detect` does, keeping what a hunt needs.

`replay(events, inventory=..., record_windows=...)` feeds time-ordered micro-batches to the
detector and returns its alerts, the detector itself (its token and principal state), the
`detector.inventory` observer that rode along (the same inventory `tokenhawk inventory` builds)
and, if asked, every closed 5-minute window with the features the isolation forests see.

The window recorder keeps the engine's own feature rows (`Detector._window_features`, which also
derives `rate_ratio_log`), so recorded rows equal the forest's input; tests/test_hunt_health.py
checks them against each fitted forest's `data_sha256` (a hash of its exact training rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from detector.config import DetectorConfig
from detector.detect.engine import Detector
from detector.detect.forest import Forest
from detector.detect.windows import FEATURES, WINDOW_US, Windows, feature_matrix
from detector.events import FIELDS, SCHEMA, from_output
from detector.inventory import Inventory, InventoryConfig

WINDOW_COLUMNS = ["window", "population", "token", "principal", "suspicious", "events", *FEATURES]


def events_table(events: pd.DataFrame | pa.Table) -> pa.Table:
    """A TokenEvents frame (as `sources` returns) → the detector's in-memory Arrow table, by time."""
    if isinstance(events, pa.Table):
        table = events if events.schema.field("ts").type == pa.int64() else from_output(events)
        return table.sort_by("ts")
    table = pa.Table.from_pandas(events[list(FIELDS)], preserve_index=False)
    columns = []
    for f in SCHEMA:
        column = table.column(f.name)
        if f.name == "ts":
            column = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
        elif column.type != f.type:
            column = column.cast(f.type)
        columns.append(column)
    return pa.table(columns, schema=SCHEMA).sort_by("ts")


class WindowRecorder(Detector):
    """A Detector that also keeps every closed window's feature row (see the module doc)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.recorded: list[pd.DataFrame] = []

    def _window_features(self, frame: Windows) -> Windows:
        frame = super()._window_features(frame)  # the canonical order, with rate_ratio_log
        names = self.code_names
        out = pd.DataFrame({
            "window": frame["win"],
            "population": [names[c] for c in frame["pop"].tolist()],
            "token": [names[c] for c in frame["tok"].tolist()],
            "principal": [names[c] for c in frame["prin"].tolist()],
            "suspicious": frame["suspicious"].astype(bool),
            "events": frame["events"],
        })
        features = feature_matrix(frame)
        for j, name in enumerate(FEATURES):
            out[name] = features[:, j]
        self.recorded.append(out)
        return frame


@dataclass
class Replay:
    detector: Detector
    alerts: list[dict[str, Any]]  # the final revision of every alert, by first evidence
    inventory: Inventory | None
    windows: pd.DataFrame | None  # with record_windows: one row per closed (token, window)

    @property
    def forests(self) -> dict[str, Forest]:
        return dict(self.detector.forests)

    @property
    def learning_until(self) -> pd.Timestamp:
        until = self.detector.learning_until()
        return pd.Timestamp(until, unit="us", tz="UTC") if until is not None else pd.NaT


def replay(events: pd.DataFrame | pa.Table, config: DetectorConfig | None = None, *,
           forests: dict[str, Forest] | None = None, inventory: bool | InventoryConfig = False,
           record_windows: bool = False, batch_rows: int = 20_000) -> Replay:
    """Feed events to a fresh Detector in time order (batches of `batch_rows`, then a flush)."""
    observers = []
    inv = None
    if inventory is not False:
        inv = Inventory(inventory if isinstance(inventory, InventoryConfig) else None)
        observers.append(inv)
    cls = WindowRecorder if record_windows else Detector
    detector = cls(config or DetectorConfig(), forests=forests, observers=observers)
    table = events_table(events)
    alerts: dict[str, dict[str, Any]] = {}
    for offset in range(0, table.num_rows, batch_rows):
        for alert in detector.process(table.slice(offset, batch_rows)):
            alerts[alert["alert"]["id"]] = alert
    for alert in detector.flush():
        alerts[alert["alert"]["id"]] = alert
    windows = None
    if record_windows:
        recorded = detector.recorded  # type: ignore[attr-defined]
        windows = pd.concat(recorded, ignore_index=True) if recorded else pd.DataFrame(columns=WINDOW_COLUMNS)
        _annotate(windows, detector)
    return Replay(detector, sorted(alerts.values(), key=lambda a: a["first_seen"]), inv, windows)


def _annotate(windows: pd.DataFrame, detector: Detector) -> None:
    """Window start, learning/training flags (the engine's rule) and each forest's anomaly."""
    learning_until = detector.learning_until()
    end_us = (windows["window"].to_numpy(dtype=np.int64) + 1) * WINDOW_US
    if learning_until is None:
        in_learning = np.zeros(len(windows), dtype=bool)
        settled = in_learning
    else:
        in_learning = end_us <= learning_until
        settled = end_us > learning_until - detector.learning_us // 2  # the engine trains on the settled half
    windows.insert(0, "start", pd.to_datetime(windows["window"].to_numpy(dtype=np.int64) * WINDOW_US, unit="us", utc=True))
    windows["in_learning"] = in_learning
    windows["training"] = in_learning & settled & ~windows["suspicious"].to_numpy(dtype=bool)
    anomaly = np.full(len(windows), np.nan)
    for population, forest in detector.forests.items():
        mask = (windows["population"] == population).to_numpy()
        if mask.any():
            anomaly[mask] = forest.anomaly(windows.loc[mask, FEATURES].to_numpy(dtype=np.float32))
    windows["anomaly"] = anomaly
