"""`tokenhawk train`: fit the per-population isolation forests on normalized history."""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import List, Optional

import numpy as np
import typer

from detector.config import parse_duration
from detector.detect.engine import Detector
from detector.detect.forest import fit_forest, save_forest
from detector.detect.windows import FEATURES
from detector.events import us_to_iso
from detector.errors import InputError

from ..progress import bar, console
from ..replay import load_events, replay
from ..settings import load_settings


def train(
    inputs: List[str] = typer.Argument(..., metavar="EVENTS...", help="Normalized history (.parquet from `tokenhawk normalize`) or raw logs."),
    out: Path = typer.Option(Path("models/current"), "--out", "-o", help="Model directory to write (one .npz + .json per population, and CARD.md)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML settings file."),
    trees: int = typer.Option(100, "--trees", min=10, help="Trees per forest."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Train isolation forests (one per source: k8s, aws, gcp, azure) on 5-minute token windows.

    The history is replayed through the detector in learning mode so the window features
    (novelty, rarity, hour surprise) are computed exactly as at detection time; windows from the
    second half of the history train the forest. Use the result with `tokenhawk detect --models DIR`.
    """
    settings = load_settings(config)
    events = load_events(inputs, quiet=quiet)
    if events.num_rows == 0:
        raise InputError("no events in the inputs: nothing to train on")
    ts = events.column("ts")
    first, last = ts[0].as_py(), ts[-1].as_py()
    # everything is learning (one window past the last event), so every window is a training row
    # candidate; the detector keeps those of the settled second half
    span_us = last - first + parse_duration("5m") + 1_000_000
    learn_all = settings.detector.model_copy(update={"learning_period": f"{span_us // 1_000_000}s"})
    detector = Detector(learn_all)
    replay(events, detector, quiet=quiet)
    written = []
    with bar("fitting forests", len(detector.training), quiet=quiet) as progress:
        for population, chunks in sorted(detector.training.items()):
            rows = np.concatenate(chunks)
            if len(rows) < settings.detector.min_training_windows:
                console.print(f"[yellow]{population}: only {len(rows)} windows (< {settings.detector.min_training_windows}); skipped[/]")
                progress.advance()
                continue
            forest = fit_forest(population, FEATURES, rows, n_estimators=trees,
                                meta={"training_window": [us_to_iso(first), us_to_iso(last)]})
            save_forest(forest, out)
            written.append((population, len(rows), forest.train_anomaly))
            progress.advance()
    if not written:
        raise InputError("no population had enough windows to train a forest")
    _write_card(out, written, first, last, events.num_rows, trees)
    for population, rows, anomaly in written:
        console.print(f"{population}: {rows:,} windows → {out}/{population}.npz (p99.9 anomaly {anomaly['p999']:.3f})")


def _write_card(out: Path, written: list, first: int, last: int, events: int, trees: int) -> None:
    import sklearn

    lines = [
        "# tokenhawk isolation forests",
        "",
        f"- trained: {datetime.now(timezone.utc).isoformat(timespec='seconds')} on {platform.node() or 'unknown host'}",
        f"- history: {us_to_iso(first)} → {us_to_iso(last)} ({events:,} events)",
        f"- trees per forest: {trees}; scikit-learn {sklearn.__version__}, numpy {np.__version__}",
        f"- features (order matters): {', '.join(FEATURES)}",
        "",
        "| population | training windows | anomaly p50 | p99 | p99.9 |",
        "|---|---|---|---|---|",
    ]
    for population, rows, a in written:
        lines.append(f"| {population} | {rows:,} | {a['p50']:.3f} | {a['p99']:.3f} | {a['p999']:.3f} |")
    lines += [
        "",
        "Intended use: amplify baseline evidence for a token's 5-minute window (never alerts alone).",
        "Loading checks each .npz's SHA-256 against its .json and the feature order; nothing is unpickled.",
        "Retrain when the fleet changes shape (new clusters/accounts) or tokenhawk's features change.",
    ]
    (out / "CARD.md").write_text("\n".join(lines) + "\n")
    (out / "index.json").write_text(json.dumps({"populations": [w[0] for w in written]}, indent=1) + "\n")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
