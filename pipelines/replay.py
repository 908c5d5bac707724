"""File replay: inputs (raw logs or normalized event files) → time-ordered micro-batches → Detector.

This is the embedded default: the same `Detector.process` the Kafka processor calls, fed from
files. Events are sorted by time across all inputs first (a replay of several sources must
interleave them), then handed over in batches of `batch_rows`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import pyarrow as pa

from detector.detect.engine import Detector
from detector.event_files import read_events
from detector.events import SCHEMA

from .ingest import IngestStats, ingest_files
from .progress import bar

EVENT_FILE_SUFFIXES = (".parquet", ".pq")


@dataclass
class ReplayResult:
    alerts: dict[str, dict] = field(default_factory=dict)  # latest revision per alert id
    ingest: IngestStats = field(default_factory=IngestStats)
    events: int = 0


def load_events(inputs: list[str], *, on_quarantine: Callable | None = None, stats: IngestStats | None = None,
                quiet: bool = False, tenant: str | None = None) -> pa.Table:
    """All events of the inputs, time-ordered. Parquet inputs are read as normalized events;
    anything else goes through the normalizer."""
    tables = []
    raw_inputs = []
    for item in inputs:
        if item.lower().endswith(EVENT_FILE_SUFFIXES):
            tables.extend(read_events(item))
        else:
            raw_inputs.append(item)
    if raw_inputs:
        tables.extend(ingest_files(raw_inputs, on_quarantine=on_quarantine, stats=stats, quiet=quiet, tenant=tenant))
    if not tables:
        return SCHEMA.empty_table()
    return pa.concat_tables(tables).sort_by("ts")


def replay(events: pa.Table, detector: Detector, *, batch_rows: int = 20_000, quiet: bool = False,
           on_alerts: Callable[[list[dict]], None] | None = None) -> ReplayResult:
    """Feed time-ordered events to the detector; returns the final state of every alert."""
    result = ReplayResult(events=events.num_rows)

    def keep(alerts: Iterable[dict]) -> None:
        batch = list(alerts)
        for alert in batch:
            result.alerts[alert["alert"]["id"]] = alert
        if batch and on_alerts is not None:
            on_alerts(batch)

    with bar("detecting", events.num_rows, quiet=quiet) as progress:
        for offset in range(0, events.num_rows, batch_rows):
            chunk = events.slice(offset, batch_rows)
            keep(detector.process(chunk))
            progress.advance(chunk.num_rows)
        keep(detector.flush())
    return result
