"""The labelled demo world end to end: generate raw logs, detect, score against the labels.

`tokenhawk demo` and `tokenhawk eval` (and bench/detect) run this; it uses the file replay
exactly as `tokenhawk detect` does, from the raw files the generator wrote.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from detector.config import DetectorConfig
from detector.detect.engine import Detector
from detector.event_files import EventWriter
from detector.evaluate import Evaluation, count_token_days, evaluate, load_labels
from detector.quarantine import QuarantineFile

from .alerts_out import sorted_alerts, write_alerts
from .ingest import IngestStats
from .progress import console
from .replay import load_events, replay


@dataclass
class DemoRun:
    directory: Path
    events: pa.Table
    alerts: list[dict]
    evaluation: Evaluation
    ingest: IngestStats
    seconds: dict[str, float] = field(default_factory=dict)
    detector: Detector | None = None


def run_world(directory: Path, *, days: int = 14, seed: int = 7, scale: float = 1.0, quiet: bool = False,
              config: DetectorConfig | None = None, write_events: bool = True) -> DemoRun:
    from detector.simulate import generate  # the generator is only needed here

    directory.mkdir(parents=True, exist_ok=True)
    world_dir = directory / "world"
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    if not quiet:
        console.print(f"generating a {days}-day labelled world (seed {seed}, scale {scale}) in {world_dir} …")
    generate(world_dir, days=days, seed=seed, scale=scale)
    seconds["generate"] = time.perf_counter() - t

    t = time.perf_counter()
    stats = IngestStats()
    quarantine = QuarantineFile(directory / "quarantine.jsonl")
    inputs = [str(p) for p in sorted(world_dir.iterdir()) if p.is_dir()]
    try:
        events = load_events(inputs, on_quarantine=quarantine, stats=stats, quiet=quiet)
    finally:
        quarantine.close()
    seconds["normalize"] = time.perf_counter() - t
    if write_events:
        with EventWriter(directory / "events.parquet") as writer:
            writer.write(events)

    t = time.perf_counter()
    detector = Detector(config or DetectorConfig())
    result = replay(events, detector, quiet=quiet)
    alerts = sorted_alerts(result.alerts.values())
    seconds["detect"] = time.perf_counter() - t
    write_alerts(alerts, directory / "alerts.jsonl")

    labels = load_labels(world_dir / "labels.json")
    evaluation = evaluate(alerts, labels, count_token_days(events))
    return DemoRun(directory, events, alerts, evaluation, stats, seconds, detector)
