"""`tokenhawk es`: install the index design, index alerts and events files, deliver spooled alerts."""

from __future__ import annotations

import gzip
import sys
import time
from pathlib import Path
from typing import IO, Iterator, List, Optional

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from detector.errors import InputError
from detector.event_files import read_events
from detector.search import AlertReport, AlertSink, EventReport, EventSink, make_client
from detector.search.client import quiet_client_logs
from detector.search.config import ElasticsearchConfig
from detector.search.setup import SetupReport, client_call, setup

from ..progress import bar, console
from ..settings import load_settings

es_app = typer.Typer(
    name="es", no_args_is_help=True, rich_markup_mode="rich",
    help="Elasticsearch: install templates and lifecycle policies, index alerts and events, deliver spooled alerts.",
)

ES_URL = typer.Option(None, "--es-url", help="Elasticsearch URL(s), comma-separated (default: elasticsearch.url from the settings).")
CONFIG = typer.Option(None, "--config", "-c", help="YAML settings file (else TOKENHAWK_CONFIG / env vars).")

STATUS_STYLE = {"created": "green", "updated": "yellow", "rolled-over": "yellow", "unchanged": "dim", "failed": "bold red"}


def _settings(config: Optional[Path], spool_dir: Optional[Path] = None) -> ElasticsearchConfig:
    quiet_client_logs()
    cfg = load_settings(config).elasticsearch
    if spool_dir is not None:
        cfg = cfg.model_copy(update={"spool_dir": str(spool_dir)})
    return cfg


def print_setup(report: SetupReport, *, dry_run: bool = False) -> None:
    table = Table(title="tokenhawk es setup" + (" (dry run: nothing written)" if dry_run else ""), header_style="bold")
    table.add_column("kind")
    table.add_column("name")
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    for step in report.steps:
        style = STATUS_STYLE.get(step.status, "cyan")
        table.add_row(step.kind.replace("_", " "), step.name, f"[{style}]{step.status}[/]", escape(step.detail))
    console.print(table)
    console.print(f"ILM: {'[green]yes[/]' if report.ilm else '[yellow]no[/]'} — {escape(report.ilm_detail)}")
    console.print(f"GeoIP: {'[green]yes[/]' if report.geoip else '[yellow]no[/]'} — {escape(report.geoip_detail)}")
    for warning in report.warnings:
        if warning.startswith(report.ilm_detail) or warning == report.geoip_detail:
            continue
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    if not report.ilm:
        console.print("[yellow]warning:[/] retention is not managed on this cluster (no ILM): delete old backing "
                      "indices yourself, or run `tokenhawk es setup` again on a cluster with ILM")


@es_app.command("setup")
def setup_cmd(
    es_url: Optional[str] = ES_URL,
    config: Optional[Path] = CONFIG,
    dry_run: bool = typer.Option(False, "--dry-run", help="Only print what would be written (reads the cluster to compare)."),
    print_requests: bool = typer.Option(False, "--print-requests", help="Print the write requests as JSON lines on stdout."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout instead of a table."),
) -> None:
    """Install tokenhawk's component and index templates, ILM policies and data streams (idempotent).

    Running it again changes nothing unless the settings or tokenhawk's templates changed. On a
    cluster without ILM the templates are installed without lifecycle policies, with a warning.
    """
    cfg = _settings(config)
    client = make_client(cfg, es_url)
    report = setup(client_call(client), cfg, dry_run=dry_run)
    if print_requests:
        for method, path, body in report.requests:
            sys.stdout.write(orjson.dumps({"method": method, "path": path, "body": body}).decode() + "\n")
    if json_out:
        sys.stdout.write(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print_setup(report, dry_run=dry_run)


def _open(path: Path) -> IO[bytes]:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def kind_of(path: Path) -> str:
    """'events' for .parquet and event JSON lines, 'alerts' for alert JSON lines (peeks at the first line)."""
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "events"
    with _open(path) as handle:
        for line in handle:
            if line.strip():
                try:
                    doc = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise InputError(f"{path}:1: not JSON ({exc})") from exc
                if isinstance(doc, dict) and "alert" in doc and "token" in doc:
                    return "alerts"
                if isinstance(doc, dict) and "event_id" in doc and "ts" in doc:
                    return "events"
                raise InputError(f"{path}: neither alerts (alert.id, token…) nor events (ts, event_id…) JSON lines")
    return "alerts"


def read_alert_batches(path: Path, size: int, errors: list[str]) -> Iterator[list[dict]]:
    batch: list[dict] = []
    with _open(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                batch.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                errors.append(f"{path}:{number}: not JSON ({exc})")
                continue
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch


def index_alerts(sink: AlertSink, path: Path, quiet: bool) -> AlertReport:
    total = AlertReport()
    parse_errors: list[str] = []
    with bar(f"alerts → {sink.stream}", None, quiet=quiet) as progress:
        for batch in read_alert_batches(path, sink.config.bulk_max_docs, parse_errors):
            report = sink.send(batch)
            for name in ("received", "invalid", "spooled", "created", "updated", "stale", "dead", "attempts_failed"):
                setattr(total, name, getattr(total, name) + getattr(report, name))
            total.errors.extend(report.errors)
            total.pending = report.pending
            progress.advance(len(batch))
    total.invalid += len(parse_errors)
    total.errors = parse_errors + total.errors
    return total


def index_events(sink: EventSink, path: Path, quiet: bool) -> EventReport:
    report = EventReport()
    total = None
    if path.name.lower().endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq
        total = pq.ParquetFile(path).metadata.num_rows
    with bar(f"events → {sink.stream}", total, quiet=quiet) as progress:
        for table in read_events(path):
            sink.send_table(table, report=report, on_progress=progress.advance)
    return report


@es_app.command("index")
def index_cmd(
    files: List[Path] = typer.Argument(..., metavar="FILE...", help="alerts.jsonl (from detect/demo) and/or events .parquet/.jsonl (from normalize/demo); .gz is fine."),
    es_url: Optional[str] = ES_URL,
    config: Optional[Path] = CONFIG,
    spool_dir: Optional[Path] = typer.Option(None, "--spool-dir", help="Alert spool directory (default: elasticsearch.spool_dir)."),
    no_setup: bool = typer.Option(False, "--no-setup", help="Do not install/check the templates first."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    summary_json: bool = typer.Option(False, "--summary-json", help="Print the counts as JSON on stdout."),
) -> None:
    """Index alerts (idempotent by alert.id: re-running updates, never duplicates) and token events.

    Alerts that cannot be delivered (Elasticsearch down) stay in the on-disk spool; `tokenhawk es
    flush` delivers them later. Events honour the sampling and volume settings
    (elasticsearch.events.*) and get deterministic ids, so indexing a file twice adds nothing.
    """
    cfg = _settings(config, spool_dir)
    client = make_client(cfg, es_url)
    kinds = {path: kind_of(path) for path in files}
    if not no_setup:
        report = setup(client_call(client), cfg)
        if report.changed and not quiet:
            console.print(f"es setup: {', '.join(f'{s.name} {s.status}' for s in report.changed)}")
    summary: dict = {}
    started = time.perf_counter()
    alert_sink = AlertSink(client, cfg) if "alerts" in kinds.values() else None
    try:
        for path, kind in kinds.items():
            if kind == "alerts":
                assert alert_sink is not None
                report = index_alerts(alert_sink, path, quiet)
                summary[str(path)] = {"kind": "alerts"} | report.as_dict()
            else:
                ereport = index_events(EventSink(client, cfg), path, quiet)
                summary[str(path)] = {"kind": "events"} | ereport.as_dict()
    finally:
        pending = 0
        if alert_sink is not None:
            pending = _close(alert_sink)
    elapsed = time.perf_counter() - started
    if summary_json:
        sys.stdout.write(orjson.dumps({"files": summary, "alerts_pending": pending, "seconds": round(elapsed, 2)}).decode() + "\n")
        return
    for path, counts in summary.items():
        if counts["kind"] == "alerts":
            console.print(
                f"{escape(path)}: {counts['received']:,} alerts → {counts['created']:,} created, {counts['updated']:,} updated, "
                f"{counts['stale']:,} older revisions skipped, {counts['invalid']:,} invalid, {counts['dead']:,} rejected"
            )
        else:
            skipped = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in counts["skipped"].items()) or "none"
            console.print(
                f"{escape(path)}: {counts['rows']:,} events → {counts['indexed']:,} indexed, {counts['duplicates']:,} "
                f"already there, {counts['rejected']:,} rejected; left out: {skipped}"
            )
        for error in counts["errors"][:10]:
            console.print(f"  [yellow]{escape(error)}[/]")
    if pending:
        console.print(f"[bold yellow]{pending:,} alerts wait in the spool ({escape(cfg.spool_dir)}):[/] Elasticsearch "
                      "was unavailable; run `tokenhawk es flush` once it is back")
    console.print(f"done in {elapsed:.1f} s")


def _close(sink: AlertSink) -> int:
    """A last delivery attempt; how many alerts stay spooled."""
    if sink.spool.pending_count():
        sink.flush(wait_seconds=sink.config.outage_wait_seconds, force=True)
    pending = sink.spool.pending_count()
    sink.spool.close()
    return pending


@es_app.command("flush")
def flush_cmd(
    es_url: Optional[str] = ES_URL,
    config: Optional[Path] = CONFIG,
    spool_dir: Optional[Path] = typer.Option(None, "--spool-dir", help="Alert spool directory (default: elasticsearch.spool_dir)."),
    wait: float = typer.Option(60.0, "--wait", help="Keep retrying this many seconds while Elasticsearch is unavailable."),
) -> None:
    """Deliver alerts waiting in the spool (after an outage). Exit code 1 if some are still pending."""
    cfg = _settings(config, spool_dir)
    sink = AlertSink(make_client(cfg, es_url), cfg)
    before = sink.spool.pending_count()
    report = sink.flush(wait_seconds=wait, force=True)
    dead = sink.spool.dead_items()
    sink.spool.close()
    console.print(f"{before:,} alerts were spooled → {report.created:,} created, {report.updated:,} updated, "
                  f"{report.stale:,} stale, {report.dead:,} rejected; {report.pending:,} still pending")
    for error in report.errors[:5]:
        console.print(f"  [yellow]{escape(error)}[/]")
    for aid, rev, reason in dead[:10]:
        console.print(f"  [red]rejected[/] alert {aid} (revision {rev}): {escape(reason)}")
    if report.pending:
        raise typer.Exit(1)


@es_app.command("status")
def status_cmd(
    es_url: Optional[str] = ES_URL,
    config: Optional[Path] = CONFIG,
    spool_dir: Optional[Path] = typer.Option(None, "--spool-dir"),
) -> None:
    """The cluster, tokenhawk's data streams (documents, backing indices, template) and the alert spool."""
    from detector.search.spool import AlertSpool

    cfg = _settings(config, spool_dir)
    call = client_call(make_client(cfg, es_url))
    status, info = call("GET", "/")
    if status == 200:
        console.print(f"Elasticsearch {info['version']['number']} at cluster {escape(info.get('cluster_name', '?'))}")
    table = Table(title="tokenhawk data streams", header_style="bold")
    for col in ("data stream", "documents", "backing indices", "template", "lifecycle"):
        table.add_column(col)
    for stream in (cfg.alerts_data_stream, cfg.events_data_stream):
        status, body = call("GET", f"/_data_stream/{stream}")
        if status != 200:
            table.add_row(stream, "-", "-", "[yellow]missing: run `tokenhawk es setup`[/]", "-")
            continue
        ds = body["data_streams"][0]
        _, count = call("GET", f"/{stream}/_count")
        lifecycle = ds.get("ilm_policy") or ds.get("next_generation_managed_by") or "-"
        table.add_row(stream, f"{count.get('count', 0):,}", str(len(ds.get("indices", []))), ds.get("template", "?"), lifecycle)
    console.print(table)
    spool_path = Path(cfg.spool_dir)
    if spool_path.exists():
        spool = AlertSpool(spool_path, max_alerts=cfg.spool_max_alerts, max_bytes=cfg.spool_max_bytes)
        console.print(f"alert spool {escape(str(spool_path))}: {spool.pending_count():,} pending, {spool.dead_count():,} rejected")
        spool.close()


def register(app: typer.Typer) -> None:
    app.add_typer(es_app, name="es")
