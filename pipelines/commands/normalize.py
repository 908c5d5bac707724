"""`tokenhawk normalize`: audit logs in any supported shape → TokenEvents (Parquet or JSONL)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import List, Optional

import orjson
import typer
from rich.table import Table

from detector.event_files import EventWriter
from detector.events import us_to_iso
from detector.quarantine import QuarantineFile

from ..ingest import IngestStats, ingest_files
from ..progress import console


def default_quarantine_path(out: Optional[Path]) -> Path:
    if out is None:
        return Path("tokenhawk-quarantine.jsonl")
    return out.with_name(out.name.split(".")[0] + ".quarantine.jsonl")


def normalize(
    inputs: List[str] = typer.Argument(
        ...,
        help="Files, directories (walked), globs, .gz files, or '-' for stdin. Mixed formats are fine.",
        metavar="INPUT...",
    ),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Write events to FILE.parquet or FILE.jsonl (default: JSON lines on stdout)."
    ),
    quarantine: Optional[Path] = typer.Option(
        None,
        "--quarantine",
        help="Where records that could not be used go, one JSON line each with the reason "
        "[default: OUT.quarantine.jsonl beside --out, or ./tokenhawk-quarantine.jsonl].",
    ),
    tenant: Optional[str] = typer.Option(
        None, "--tenant", help="Cluster/account name for records whose log does not carry one (plain K8s audit files)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    summary_json: bool = typer.Option(False, "--summary-json", help="Print the end-of-run counts as JSON on stderr."),
) -> None:
    """Normalize audit logs (Kubernetes, CloudTrail, GCP, Azure) into per-token usage events.

    Prints counts per source and per quarantine reason at the end. Exits 0 when the run finished,
    even if records were quarantined; non-zero only when it could not run (e.g. a missing input).
    """
    quarantine_file = QuarantineFile(quarantine or default_quarantine_path(out))
    stats = IngestStats()
    started = time.perf_counter()
    writer = EventWriter(out) if out is not None else None
    try:
        for table in ingest_files(inputs, on_quarantine=quarantine_file, stats=stats, quiet=quiet, tenant=tenant):
            if writer is not None:
                writer.write(table)
            else:
                _write_stdout(table)
    finally:
        if writer is not None:
            writer.close()
        quarantine_file.close()
    elapsed = time.perf_counter() - started
    summary = stats.as_dict() | {
        "seconds": round(elapsed, 3),
        "out": str(out) if out else "<stdout>",
        "quarantine_file": str(quarantine_file.path) if quarantine_file.written else None,
    }
    if summary_json:
        sys.stderr.write(orjson.dumps(summary).decode() + "\n")
    else:
        print_summary(summary)


def _write_stdout(table) -> None:
    write = sys.stdout.buffer.write
    columns = table.to_pydict()
    names = list(columns)
    for values in zip(*columns.values()):
        row = dict(zip(names, values))
        row["ts"] = us_to_iso(row["ts"])
        write(orjson.dumps(row) + b"\n")
    sys.stdout.buffer.flush()


def print_summary(summary: dict) -> None:
    table = Table(title="tokenhawk normalize", show_header=True, header_style="bold")
    table.add_column("count", justify="right")
    table.add_column("what")
    for source, count in summary["events"].items():
        table.add_row(f"{count:,}", f"events from {source}")
    table.add_row(f"{summary['events_total']:,}", "[bold]events written[/]")
    for reason, count in summary["quarantined"].items():
        table.add_row(f"{count:,}", f"quarantined: {reason}")
    for reason, count in summary["skipped"].items():
        table.add_row(f"{count:,}", f"skipped (not a credential's audit record): {reason}")
    if summary["stage_duplicates"]:
        table.add_row(f"{summary['stage_duplicates']:,}", "K8s stage copies merged into their request")
    table.add_row(f"{summary['records']:,}", f"raw records read from {summary['files']} input(s) in {summary['seconds']} s")
    console.print(table)
    if summary["quarantine_file"]:
        console.print(f"quarantined records are in [bold]{summary['quarantine_file']}[/] (reason, origin, redacted raw text)")


def register(app: typer.Typer) -> None:
    app.command("normalize")(normalize)
