"""`tokenhawk detect`: replay audit logs (or normalized events) in time order and raise alerts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional

import typer

from detector.detect.engine import Detector
from detector.detect.forest import load_forests
from detector.detect.windows import FEATURES
from detector.quarantine import QuarantineFile
from detector.search.client import make_client
from detector.search.sink import AlertSink

from ..alerts_out import print_alert_table, sorted_alerts, write_alerts
from ..ingest import IngestStats
from ..notify.notifier import notifier_if_configured
from ..progress import console
from ..replay import load_events, replay
from ..settings import load_settings
from .normalize import default_quarantine_path


def detect(
    inputs: List[str] = typer.Argument(..., metavar="INPUT...", help="Raw audit logs (any supported shape) and/or events .parquet from `tokenhawk normalize`."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write alerts as JSON lines here (default: stdout)."),
    learning_period: Optional[str] = typer.Option(None, "--learning-period", help="History before a principal can alert, e.g. 7d (default from config: 7d)."),
    models: Optional[Path] = typer.Option(None, "--models", help="Use isolation forests trained by `tokenhawk train` from this directory instead of fitting on the learning period."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML settings file (see README, Configuration)."),
    tenant: Optional[str] = typer.Option(None, "--tenant", help="Cluster/account name for records whose log does not carry one."),
    quarantine: Optional[Path] = typer.Option(None, "--quarantine", help="Where unusable records go (default: beside --out)."),
    es_url: Optional[str] = typer.Option(None, "--es-url", help="Also index alerts into Elasticsearch at this URL as they are raised (by alert id; spooled on disk while it is down). Run `tokenhawk es setup` once first."),
    notify: bool = typer.Option(True, "--notify/--no-notify", help="Send alerts through the configured notify routes as they are raised (when any destination is configured)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or tables."),
) -> None:
    """Detect unusual token use: learn baselines as events replay in time order and write alerts.

    No alert is raised for a principal before its own or its peer group's baseline has seen
    --learning-period of history. At the end an alert table is printed (stderr).
    """
    overrides = {"detector": {"learning_period": learning_period}} if learning_period else {}
    settings = load_settings(config, **overrides)
    forests = load_forests(models, FEATURES) if models else None
    detector = Detector(settings.detector, forests=forests)
    quarantine_file = QuarantineFile(quarantine or default_quarantine_path(out))
    stats = IngestStats()
    started = time.perf_counter()
    try:
        events = load_events(inputs, on_quarantine=quarantine_file, stats=stats, quiet=quiet, tenant=tenant)
    finally:
        quarantine_file.close()
    notifier = notifier_if_configured(settings.notify) if notify else None
    es_sink = AlertSink(make_client(settings.elasticsearch, es_url), settings.elasticsearch) if es_url else None

    def deliver(alerts: list[dict]) -> None:
        if notifier is not None:
            notifier.submit(alerts)
        if es_sink is not None:
            es_sink.send(alerts)

    try:
        result = replay(events, detector, quiet=quiet, on_alerts=deliver)
        if notifier is not None:
            notifier.drain()
    finally:
        if notifier is not None:
            notifier.close()
        if es_sink is not None:
            report = es_sink.close(wait_seconds=30)
            if report.pending and not quiet:
                console.print(f"[yellow]{report.pending} alerts wait in the Elasticsearch spool; "
                              "`tokenhawk es flush` delivers them[/]")
    alerts = sorted_alerts(result.alerts.values())
    write_alerts(alerts, out)
    elapsed = time.perf_counter() - started
    if not quiet:
        print_alert_table(alerts)
        q = sum(stats.quarantined.values())
        console.print(
            f"{events.num_rows:,} events ({q:,} records quarantined"
            + (f", see {quarantine_file.path}" if quarantine_file.written else "")
            + f") → {len(alerts)} alerts in {elapsed:.1f} s"
            + (f"; alerts in {out}" if out else "")
        )


def register(app: typer.Typer) -> None:
    app.command("detect")(detect)
